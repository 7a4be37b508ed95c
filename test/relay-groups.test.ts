/**
 * Groups through the other relays: a stock Mosquitto (the shipped loopback config) and a Redis-backed
 * cluster of two `ratchetd broker` nodes. Group copies are envelopes of kind 0x03 on the members'
 * usual inbox topics: no relay needs to know anything new.
 */
import { describe, expect, it } from 'vitest';
import { relayTestScope } from './fixtures/relay-test-scope.ts';
import { createBroker } from '../broker/index.ts';
import { startMosquitto } from './fixtures/mosquitto-process.ts';
import { startRedis } from './fixtures/redis-process.ts';
import type { RelayDaemon } from './fixtures/relay-daemons.ts';
import { tempDir } from '../broker/test-support.ts';
import { text } from '../daemon/engine/test-support.ts';

const scope = await relayTestScope();
const { crypto } = scope;

const texts = (d: RelayDaemon, groupId: string): string[] =>
  d.log.messages().filter((m) => m.groupId === groupId).map((m) => new TextDecoder().decode(m.body));

/** alice creates a group with bob and carol; each sends once; everyone else gets both, delivered per member. */
async function groupConversation(alice: RelayDaemon, bob: RelayDaemon, carol: RelayDaemon): Promise<void> {
  const g = await alice.daemon.backend.createGroup('relay', [bob.userId, carol.userId]);
  for (const d of [bob, carol]) await d.log.until((l) => l.events.some((e) => e.kind === 'groupChanged' && e.group.groupId === g.groupId), 'member joins');
  const first = await alice.daemon.backend.send({ groupId: g.groupId, body: text('from alice') });
  await bob.daemon.backend.send({ groupId: g.groupId, body: text('from bob') });
  await alice.log.until(() => texts(alice, g.groupId).includes('from bob'), 'alice gets bob\'s');
  await bob.log.until(() => texts(bob, g.groupId).includes('from alice'), 'bob gets alice\'s');
  await carol.log.until(() => texts(carol, g.groupId).length === 2, 'carol gets both');
  expect(texts(carol, g.groupId).sort()).toEqual(['from alice', 'from bob']);
  await alice.log.until(
    (l) => [bob.userId, carol.userId].every((m) => l.events.some((e) => e.kind === 'delivery' && e.messageId === first.messageId && e.to === m && e.state === 'delivered')),
    'alice: delivered to both',
  );
}

describe('groups through other relays', () => {
  it('Mosquitto (ratchetd-loopback.conf)', { timeout: 60_000 }, async () => {
    const m = await startMosquitto({ config: 'loopback', dir: await scope.daemons.tempDir('mosquitto') });
    scope.defer(() => m.stop());
    const [alice, bob, carol] = [await scope.daemons.start({ brokerUrl: m.url, relayAuth: {} }), await scope.daemons.start({ brokerUrl: m.url, relayAuth: {} }), await scope.daemons.start({ brokerUrl: m.url, relayAuth: {} })];
    await groupConversation(alice, bob, carol);
  });

  it('a Redis-backed cluster of two broker nodes, the members split across them', { timeout: 60_000 }, async () => {
    const tmp = await tempDir('redis');
    const redis = await startRedis(tmp.dir);
    scope.defer(tmp.remove, () => redis.stop());
    const nodes = [createBroker({ redisUrl: redis.url, crypto }), createBroker({ redisUrl: redis.url, crypto })];
    for (const n of nodes) scope.defer(() => n.close());
    const [one, two] = [await nodes[0]!.start(), await nodes[1]!.start()];
    const alice = await scope.daemons.start({ brokerUrl: one.url });
    const bob = await scope.daemons.start({ brokerUrl: two.url });
    const carol = await scope.daemons.start({ brokerUrl: two.url });
    await groupConversation(alice, bob, carol);
  });
});
