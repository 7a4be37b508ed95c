/**
 * Issue 5, part 3, end to end: at the per-recipient quota and past the message TTL the broker
 * discards, and nothing is lost — the sender's outbox keeps every message until an encrypted receipt
 * returns and resends it; the sender keeps talking to everyone else meanwhile. Run against a single
 * LevelDB node and against two nodes sharing Redis (the limits there are Redis-wide).
 */
import { describe, expect, it } from 'vitest';
import { relayTestScope } from './fixtures/relay-test-scope.ts';
import { createBroker } from '../broker/index.ts';
import type { BrokerConfig } from '../broker/index.ts';
import { startRedis } from './fixtures/redis-process.ts';
import { delivered, RelayDaemons } from './fixtures/relay-daemons.ts';
import type { RelayDaemon } from './fixtures/relay-daemons.ts';
import { outgoingListKey } from '../broker/redis-queue-quota.ts';
import { memoryLogger, tempDir, until } from '../broker/test-support.ts';
import { Redis } from 'ioredis';
import { bundleTopic } from '../core/topics.ts';
import type { UserId } from '../core/user-id.ts';
import type { EngineTiming } from '../daemon/engine/index.ts';
import { text } from '../daemon/engine/test-support.ts';

const scope = await relayTestScope();
const { crypto } = scope;

/** Resends come quickly in tests (production: 15 s, doubling up to 15 min). */
const FAST_RETRY: Partial<EngineTiming> = {
  outbox: { retryInitialMs: 300, retryMaxMs: 1000, tickMs: 100, maxAgeMs: 3600_000, stuckAfterPublishes: 1000 },
};

interface Relay {
  /** URL for alice (sender) and for everyone else — two different nodes in the cluster case. */
  readonly senderUrl: string;
  readonly otherUrl: string;
  readonly log: () => string;
  /** Resolves once the relay has thrown away `userId`'s expired queued message(s) at his CONNECT. */
  expiredDropped(userId: string): Promise<void>;
  /**
   * Resolves once `userId`'s bundle is stored: Aedes acknowledges a publish before it stores it, and
   * in the cluster another node reads it from Redis (one node reads its own store, in order).
   */
  bundleStored(userId: UserId): Promise<void>;
}

type Limits = Pick<BrokerConfig, 'maxQueuedPerClient' | 'messageTtlMs'>;

const relays: Record<string, (limits: Limits) => Promise<Relay>> = {
  'one LevelDB node': async (limits) => {
    const tmp = await tempDir('limits');
    const log = memoryLogger();
    const broker = createBroker({ dataDir: tmp.dir, crypto, logger: log.logger, ...limits });
    scope.defer(tmp.remove, () => broker.close());
    const { url } = await broker.start();
    return {
      senderUrl: url,
      otherUrl: url,
      log: log.text,
      expiredDropped: () => until(() => log.text().includes('expired (TTL)')),
      bundleStored: async () => undefined,
    };
  },
  'two nodes on one Redis': async (limits) => {
    const tmp = await tempDir('limits-redis');
    const redis = await startRedis(tmp.dir);
    scope.defer(tmp.remove, () => redis.stop());
    const log = memoryLogger();
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const broker = createBroker({ redisUrl: redis.url, crypto, logger: log.logger, ...limits });
      scope.defer(() => broker.close());
      urls.push((await broker.start()).url);
    }
    const check = new Redis(redis.url);
    scope.defer(async () => check.disconnect());
    // Redis expired the packet itself; the node prunes the dangling list entry when bob connects.
    const expiredDropped = async (userId: string): Promise<void> => {
      while ((await check.llen(outgoingListKey(userId))) > 0) await new Promise((r) => setTimeout(r, 20));
    };
    const bundleStored = async (userId: UserId): Promise<void> => {
      while ((await check.hexists('retained', bundleTopic(userId))) === 0) await new Promise((r) => setTimeout(r, 20));
    };
    return { senderUrl: urls[0] as string, otherUrl: urls[1] as string, log: log.text, expiredDropped, bundleStored };
  },
};

async function daemons(relay: Relay): Promise<{ d: RelayDaemons; alice: RelayDaemon; bob: RelayDaemon; carol: RelayDaemon }> {
  const d = new RelayDaemons(crypto);
  scope.defer(() => d.closeAll());
  const alice = await d.start({ brokerUrl: relay.senderUrl, timing: FAST_RETRY });
  const bob = await d.start({ brokerUrl: relay.otherUrl });
  const carol = await d.start({ brokerUrl: relay.otherUrl });
  // Sessions first, so the later sends are plain ratchet messages.
  for (const peer of [bob, carol]) {
    await relay.bundleStored(peer.userId);
    const { messageId } = await alice.daemon.backend.send({ to: peer.userId, body: text('hello') });
    await alice.log.until((l) => delivered(l, messageId), 'first receipt');
  }
  return { d, alice, bob, carol };
}

const bodies = (r: RelayDaemon, from: RelayDaemon, prefix: string) =>
  r.log.messages(from.userId).filter((m) => Buffer.from(m.body).toString().startsWith(prefix));

for (const [name, relayFor] of Object.entries(relays)) {
  describe(`limits end to end: ${name}`, () => {
    it('at the quota: carol still hears from alice at once; bob gets all 12, once, in order, after he comes back', async () => {
      const relay = await relayFor({ maxQueuedPerClient: 5 });
      const { d, alice, bob, carol } = await daemons(relay);
      await d.stop(bob);
      const sent: string[] = [];
      for (let i = 0; i < 12; i++) sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`q${i}`) })).messageId);
      const toCarol = await alice.daemon.backend.send({ to: carol.userId, body: text('meanwhile') });
      await alice.log.until((l) => delivered(l, toCarol.messageId), 'carol receipts while bob is full');
      expect(relay.log()).toContain('recipient queue full');
      expect((await alice.daemon.backend.getStatus()).brokerConnected).toBe(true);
      expect((await alice.daemon.backend.getStatus()).outboxDepth).toBe(12); // kept until receipts

      const back = await d.start({ brokerUrl: relay.otherUrl, dataDir: bob.dataDir });
      await back.log.until(() => bodies(back, alice, 'q').length >= 12, 'bob has all 12', 30_000);
      expect(bodies(back, alice, 'q').map((m) => m.messageId)).toEqual(sent);
      await alice.log.until((l) => sent.every((id) => delivered(l, id)), 'all receipted', 30_000);
      expect((await alice.daemon.backend.getStatus()).outboxDepth).toBe(0);
    });

    it('past the TTL: the queued copy is thrown away, the outbox resend arrives', async () => {
      const relay = await relayFor({ messageTtlMs: 1000 });
      const { d, alice, bob } = await daemons(relay);
      await d.stop(bob);
      // An alice whose outbox waits a minute before resending: the copy bob finds is the first one.
      await d.stop(alice);
      const patient = { outbox: { retryInitialMs: 60_000, retryMaxMs: 60_000, tickMs: 100, maxAgeMs: 3600_000, stuckAfterPublishes: 1000 } };
      const slow = await d.start({ brokerUrl: relay.senderUrl, dataDir: alice.dataDir, timing: patient });
      const { messageId } = await slow.daemon.backend.send({ to: bob.userId, body: text('ttl') });
      await slow.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'sent'), 'queued at the broker');
      await new Promise((r) => setTimeout(r, 2100)); // past the TTL (Redis expires whole seconds)

      const back = await d.start({ brokerUrl: relay.otherUrl, dataDir: bob.dataDir });
      await relay.expiredDropped(bob.userId);
      expect(back.log.texts(alice.userId)).not.toContain('ttl');

      await d.stop(slow); // a restarted alice resends what the broker took but no receipt confirmed
      const fast = await d.start({ brokerUrl: relay.senderUrl, dataDir: alice.dataDir, timing: FAST_RETRY });
      await back.log.until((l) => l.texts(fast.userId).includes('ttl'), 'the resend arrives', 30_000);
      await fast.log.until((l) => delivered(l, messageId), 'receipt', 30_000);
      expect(back.log.texts(fast.userId).filter((t) => t === 'ttl')).toHaveLength(1);
    });
  });
}
