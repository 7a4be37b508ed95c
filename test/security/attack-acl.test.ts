/**
 * Issue 6 item 2: a client without the identity key cannot read an inbox or replace a bundle. Real
 * mqtt.js clients against the real broker process, while two real daemons talk through a tap.
 *  - Logging in as bob: no password, a garbage proof, mallory's valid proof presented for bob's
 *    user id or client id, and bob's own CONNECT proof replayed byte for byte from the wire — all
 *    refused, and bob's daemon keeps its session.
 *  - Mallory (logged in as herself) cannot subscribe to bob's inbox by name or wildcard, and gets
 *    nothing while alice writes to bob.
 *  - Mallory cannot replace, clear or un-retain bob's bundle: the broker closes her connection
 *    without a PUBACK and the retained bundle stays one bob signed (no older than before).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IConnectPacket } from 'mqtt-packet';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { buildBundle, createIdentity, createPrekeyState, verifyBundle } from '../../core/index.ts';
import { createRelayProof, DEFAULT_RELAY_AUDIENCE } from '../../core/relay-auth.ts';
import { bundleTopic, inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { closed, connectMallory, tryConnect } from './support/mallory.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork;
let alice: SecDaemon;
let bob: SecDaemon;

beforeAll(async () => {
  net = await startSecNetwork();
  [alice, bob] = await Promise.all([net.startDaemon('alice'), net.startDaemon('bob')]);
  await exchange(alice, bob, 'hello bob');
}, 60_000);

afterAll(async () => {
  await net?.stop();
});

async function retainedBundle(topic: string): Promise<Buffer> {
  const reader = await connectMallory(crypto, net.brokerUrl);
  const got = new Promise<Buffer>((resolve) => reader.client.on('message', (t, p) => t === topic && resolve(Buffer.from(p))));
  await reader.client.subscribeAsync(topic, { qos: 1 });
  const bundle = await got;
  await reader.client.endAsync();
  return bundle;
}

describe('a client without the identity key', () => {
  it('cannot log in as bob (no proof, forged proof, a proof for another identity, bob\'s proof replayed)', async () => {
    const bobConnect = net.tap.events.find((e) => e.dir === 'up' && e.packet.cmd === 'connect' && e.clientId === bob.userId)?.packet as IConnectPacket;
    expect(bobConnect.password?.length).toBeGreaterThan(64);
    const mallory = createIdentity(crypto);
    const malloryProof = createRelayProof(crypto, mallory, mallory.userId, DEFAULT_RELAY_AUDIENCE, Date.now());
    const proofForBobsClientId = createRelayProof(crypto, mallory, bob.userId, DEFAULT_RELAY_AUDIENCE, Date.now());
    const attempts = {
      'no credentials': { clientId: bob.userId },
      'garbage proof': { clientId: bob.userId, username: bob.userId, password: Buffer.alloc(bobConnect.password!.length, 7) },
      "mallory's proof under bob's user name": { clientId: bob.userId, username: bob.userId, password: Buffer.from(malloryProof.password) },
      "mallory's proof signed for bob's client id": { clientId: bob.userId, username: mallory.userId, password: Buffer.from(proofForBobsClientId.password) },
      "bob's CONNECT proof replayed from the wire": { clientId: bob.userId, username: bobConnect.username!, password: Buffer.from(bobConnect.password!) },
    };
    for (const [what, options] of Object.entries(attempts)) {
      const { client, returnCode } = await tryConnect(net.brokerUrl, options);
      client.end(true);
      expect([4, 5], what).toContain(returnCode);
    }
    // bob's daemon kept its session: it still receives
    await exchange(alice, bob, 'still bob');
    expect((await bob.client.getStatus()).brokerConnected).toBe(true);
  });

  it("cannot read bob's inbox, by name or by wildcard", async () => {
    const mallory = await connectMallory(crypto, net.brokerUrl);
    const seen: string[] = [];
    mallory.client.on('message', (topic) => seen.push(topic));
    const bobInbox = inboxTopic(bob.userId as UserId);
    for (const filter of [bobInbox, 'ratchetd/v1/inbox/+', 'ratchetd/v1/+/' + bob.userId, 'ratchetd/v1/#', '#']) {
      const granted = await new Promise<unknown>((resolve) =>
        mallory.client.subscribe(filter, { qos: 1 }, (err, g) => resolve(err ? (err as { packet?: { granted?: number[] } }).packet?.granted?.[0] : g?.[0]?.qos)),
      );
      expect(granted, filter).toBe(128);
    }
    await exchange(alice, bob, 'for bob only');
    await exchange(bob, alice, 'for alice only');
    expect(seen).toEqual([]);
    await mallory.client.endAsync();
  });

  it("cannot replace, clear or un-retain bob's bundle", async () => {
    const topic = bundleTopic(bob.userId as UserId);
    const original = await retainedBundle(topic);
    expect(verifyBundle(crypto, original, bob.userId as UserId, Date.now()).userId).toBe(bob.userId);

    const forgerIdentity = createIdentity(crypto);
    const forged = buildBundle(crypto, forgerIdentity, createPrekeyState(crypto, Date.now()), Date.now()).bundle;
    const attacks: Array<[string, Uint8Array, boolean]> = [
      ["mallory's own bundle", forged, true],
      ['an empty payload (clear)', new Uint8Array(0), true],
      ['bob\'s bundle, not retained', original, false],
    ];
    for (const [what, payload, retain] of attacks) {
      const mallory = await connectMallory(crypto, net.brokerUrl);
      let acked = false;
      mallory.client.publish(topic, Buffer.from(payload), { qos: 1, retain }, (err) => (acked = err === undefined || err === null));
      expect(await closed(mallory.client), what).toBe(true);
      expect(acked, what).toBe(false);
    }
    // Bob himself may have republished meanwhile (a consumed one-time prekey): what must hold is that
    // the retained bundle is still one bob signed, and not older than the one read before the attacks.
    const after = await retainedBundle(topic);
    const before = verifyBundle(crypto, original, bob.userId as UserId, Date.now());
    const now = verifyBundle(crypto, after, bob.userId as UserId, Date.now(), before.bundleVersion);
    expect(now.userId).toBe(bob.userId);
    expect(now.bundleVersion).toBeGreaterThanOrEqual(before.bundleVersion);
  });
});
