/**
 * Groups through the other relays: a stock Mosquitto (the shipped loopback config) and a Redis-backed
 * cluster of two `ratchetd broker` nodes. Group copies are envelopes of kind 0x03 on the members'
 * usual inbox topics: no relay needs to know anything new.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../broker/index.ts';
import { startMosquitto } from './fixtures/mosquitto-process.ts';
import { startRedis } from './fixtures/redis-process.ts';
import { RelayDaemons, type RelayDaemon } from './fixtures/relay-daemons.ts';
import { tempDir } from '../broker/test-support.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import { text } from '../daemon/engine/test-support.ts';
import type { Crypto } from '../core/crypto.ts';

let crypto: Crypto;
let daemons: RelayDaemons | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

afterEach(async () => {
  await daemons?.closeAll();
  daemons = undefined;
  for (const f of cleanups.splice(0).reverse()) await f();
});

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
    daemons = new RelayDaemons(crypto);
    const m = await startMosquitto({ config: 'loopback', dir: await daemons.tempDir('mosquitto') });
    cleanups.push(() => m.stop());
    const [alice, bob, carol] = [await daemons.start({ brokerUrl: m.url, relayAuth: {} }), await daemons.start({ brokerUrl: m.url, relayAuth: {} }), await daemons.start({ brokerUrl: m.url, relayAuth: {} })];
    await groupConversation(alice, bob, carol);
  });

  it('a Redis-backed cluster of two broker nodes, the members split across them', { timeout: 60_000 }, async () => {
    const tmp = await tempDir('redis');
    const redis = await startRedis(tmp.dir);
    cleanups.push(tmp.remove, () => redis.stop());
    const nodes = [createBroker({ redisUrl: redis.url, crypto }), createBroker({ redisUrl: redis.url, crypto })];
    for (const n of nodes) cleanups.push(() => n.close());
    const [one, two] = [await nodes[0]!.start(), await nodes[1]!.start()];
    daemons = new RelayDaemons(crypto);
    const alice = await daemons.start({ brokerUrl: one.url });
    const bob = await daemons.start({ brokerUrl: two.url });
    const carol = await daemons.start({ brokerUrl: two.url });
    await groupConversation(alice, bob, carol);
  });
});
