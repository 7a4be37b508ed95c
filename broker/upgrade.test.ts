/**
 * A broker data dir written by the previous broker (aedes-persistence-level 9.2; the committed
 * fixture test/fixtures/broker-datadir-v1, see broker-datadir-v1.ts for what it holds) opens with
 * today's LevelDB persistence, no migration: the retained bundle is served, the offline session's
 * queue and subscription are there, the messages delivered but never acknowledged are delivered
 * again, and once everything is acknowledged no record of the old layout is left behind.
 * Order of queued messages is not compared: a live message may overtake a queue being emptied.
 * And back: the previous persistence reads what the new one wrote (a downgrade keeps the data).
 */
import { cp } from 'node:fs/promises';
import path from 'node:path';
import createOldLevelPersistence from 'aedes-persistence-level';
import { Level } from 'level';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../core/crypto.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';
import { createBroker } from './broker.ts';
import { LevelPersistence } from './level-persistence.ts';
import { bundleTopic, connectAs, end, inboxTopic, newIdentity, tempDir, until } from './test-support.ts';
import { ALICE_BUNDLE, FIXTURE_DIR, IN_FLIGHT_FOR_CAROL, QUEUED_FOR_BOB, fixtureIdentities } from '../test/fixtures/broker-datadir-v1.ts';

let crypto: Crypto;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/**
 * Connects `who` (clean:false) and collects its inbox until `expected` queued messages and `marker`
 * (sent live by `sender` once connected) have arrived.
 */
async function drain(url: string, who: RelayIdentity, sender: RelayIdentity, marker: string, expected: number): Promise<string[]> {
  const got: string[] = [];
  let c: MqttClient | undefined;
  let a: MqttClient | undefined;
  try {
    c = await connectAs(url, crypto, who, { clean: false, onMessage: (_t, p) => got.push(p.toString()) });
    // No SUBSCRIBE: the marker arrives only if the old session's subscription was restored.
    a = await connectAs(url, crypto, sender);
    await a.publishAsync(inboxTopic(who.userId), marker, { qos: 1 });
    await until(() => got.includes(marker) && got.length >= expected + 1);
    // A graceful end: the PUBACKs of the last messages leave before the connection closes.
    await c.endAsync();
    return got.filter((p) => p !== marker);
  } finally {
    await end(a, c);
  }
}

async function oldLayoutKeys(dataDir: string): Promise<string[]> {
  const db = new Level<string, string>(path.join(dataDir, 'broker'));
  await db.open();
  try {
    const keys: string[] = [];
    for await (const key of db.keys()) if (/^(outgoing|outgoing-id):/.test(key)) keys.push(key);
    return keys;
  } finally {
    await db.close();
  }
}

describe('upgrade from a data dir of aedes-persistence-level', () => {
  it('serves the old bundle, delivers the old queue and the unacknowledged messages, and leaves no old record behind', async () => {
    const tmp = await tempDir('upgrade');
    cleanups.push(tmp.remove);
    await cp(FIXTURE_DIR, tmp.dir, { recursive: true });
    const { alice, bob, carol } = fixtureIdentities(crypto);
    const dave = newIdentity(crypto);

    const broker = createBroker({ dataDir: tmp.dir, crypto });
    cleanups.push(() => broker.close());
    const { url } = await broker.start();

    let bundle: string | undefined;
    const d = await connectAs(url, crypto, dave, { onMessage: (topic, p) => topic === bundleTopic(alice.userId) && (bundle = p.toString()) });
    await d.subscribeAsync(bundleTopic(alice.userId), { qos: 1 });
    await until(() => bundle !== undefined);
    await end(d);
    expect(bundle).toBe(ALICE_BUNDLE);

    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`).sort();
    expect((await drain(url, bob, dave, 'after-upgrade-bob', QUEUED_FOR_BOB)).sort()).toEqual(names('q', QUEUED_FOR_BOB));
    expect((await drain(url, carol, dave, 'after-upgrade-carol', IN_FLIGHT_FOR_CAROL)).sort()).toEqual(names('c', IN_FLIGHT_FOR_CAROL));

    // Everything acknowledged (mqtt.js acknowledges each message as it is handled): nothing is left
    // queued, and no record of the old layout (the `outgoing-id:` copies) stays behind.
    await broker.close();
    expect(await oldLayoutKeys(tmp.dir)).toEqual([]);
  });
});

/** aedes-persistence-level's promise interface, the part used here. */
interface OldPersistence {
  setup(broker: { id: string }): Promise<void>;
  subscriptionsByTopic(topic: string): Promise<Array<{ clientId: string }>>;
  createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: number; payload: Buffer; brokerCounter: number }>;
  outgoingUpdate(client: { id: string }, packet: object): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId: number }): Promise<{ payload: Buffer } | undefined>;
  destroy(): Promise<void>;
}

describe('downgrade to aedes-persistence-level', () => {
  it('reads the subscriptions, retained packets and queues the batched persistence wrote, message ids included', async () => {
    const tmp = await tempDir('downgrade');
    cleanups.push(tmp.remove);
    const open = async () => {
      const db = new Level<string, string>(tmp.dir, { valueEncoding: 'buffer' } as never);
      await db.open();
      return db;
    };
    const bob = { id: 'bob' };
    const packet = (n: number) => ({ cmd: 'publish', topic: 'inbox/bob', payload: Buffer.from(`m${n}`), qos: 1, retain: false, dup: false, brokerId: 'run-1', brokerCounter: n });

    const next = new LevelPersistence(await open(), { sync: false });
    await next.setup({ id: 'run-1' });
    await next.addSubscriptions(bob, [{ topic: 'inbox/bob', qos: 1 }]);
    await next.storeRetained({ cmd: 'publish', topic: 'bundle/alice', payload: Buffer.from('bundle'), qos: 0, retain: true });
    for (let n = 1; n <= 3; n++) await next.outgoingEnqueueCombi([{ clientId: bob.id }], packet(n));
    await next.outgoingUpdate(bob, { ...packet(2), messageId: 42 }); // delivered, not acknowledged
    await next.destroy();

    const old = createOldLevelPersistence(await open()) as OldPersistence;
    cleanups.push(() => old.destroy());
    await old.setup({ id: 'run-2' });
    expect((await old.subscriptionsByTopic('inbox/bob')).map((s) => s.clientId)).toEqual(['bob']);
    const retained = [];
    for await (const p of old.createRetainedStream('bundle/alice')) retained.push(p.payload.toString());
    expect(retained).toEqual(['bundle']);
    const queued = [];
    for await (const p of old.outgoingStream(bob)) queued.push(p);
    expect(queued.map((p) => [p.payload.toString(), p.messageId ?? null])).toEqual([
      ['m1', null],
      ['m2', 42],
      ['m3', null],
    ]);
    // The old code resends m2 under its id and then takes its PUBACK.
    await old.outgoingUpdate(bob, { ...packet(2), messageId: 42 });
    expect((await old.outgoingClearMessageId(bob, { messageId: 42 }))?.payload.toString()).toBe('m2');
  });
});
