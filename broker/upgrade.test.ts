/**
 * A broker data dir written by the previous broker (aedes-persistence-level 9.2; the committed
 * fixture test/fixtures/broker-datadir-v1, see broker-datadir-v1.ts for what it holds) opens with
 * today's LevelDB persistence, no migration: the retained bundle is served, the offline session's
 * queue and subscription are there, the messages delivered but never acknowledged are delivered
 * again, and once everything is acknowledged no record of the old layout is left behind.
 * Order of queued messages is not compared: a live message may overtake a queue being emptied.
 */
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../core/crypto.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';
import { createBroker } from './broker.ts';
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
