/**
 * Issue 6 item 2: identity attacks on real daemon processes.
 *  - Impersonation: mallory builds a handshake whose sealed sender claims alice's identity key
 *    (she lacks alice's private key) and publishes it to bob's inbox: bob acks and drops it —
 *    nothing delivered, no contact or trust change, no alert. Control: the very same construction
 *    with mallory's own key pair IS delivered, attributed to mallory's user id, never to alice's.
 *  - A changed identity fails closed. A user id is the hash of its identity key, so a new key under
 *    the same user id cannot be produced on the wire; the engine models the case as a contact
 *    record whose stored key differs from the key a handshake presents. We craft that record in
 *    erin's store (erin "knew" alice under another key) and check, over gRPC and the tap: alice's
 *    message is quarantined, an identity_changed event is raised, erin's Send to alice fails with
 *    FAILED_PRECONDITION and publishes nothing, a wrong safety number is refused, and only
 *    VerifyContact with the right number releases the message. (The reachable attack — another
 *    key served under alice's bundle topic — is refused by verifyBundle's user-id check:
 *    attack-bundle.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError } from '../../daemon/api/client.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { encodeContact } from '../../daemon/engine/records.ts';
import { createIdentity, encryptForPeer, startSession, verifyBundle, type LocalIdentity } from '../../core/index.ts';
import { bundleTopic, inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { openDataDirStore } from '../../daemon/store/open-store.ts';
import { connectMallory } from './support/mallory.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork;
let alice: SecDaemon;
let bob: SecDaemon;

beforeAll(async () => {
  net = await startSecNetwork();
  [alice, bob] = await Promise.all([net.startDaemon('alice'), net.startDaemon('bob')]);
  await exchange(alice, bob, 'hi bob, alice here');
}, 60_000);

afterAll(async () => {
  await net?.stop();
});

/** Publishes an envelope to a daemon's inbox as mallory and waits until the daemon acked it. */
async function deliverAsMallory(to: SecDaemon, envelope: Uint8Array): Promise<void> {
  const mallory = await connectMallory(crypto, net.brokerUrl);
  const from = net.tap.events.length;
  await mallory.client.publishAsync(inboxTopic(to.userId as UserId), Buffer.from(envelope), { qos: 1 });
  await mallory.client.endAsync();
  const down = await net.tap.waitFor(
    (e) => e.seq >= from && e.dir === 'down' && e.clientId === to.userId && e.packet.cmd === 'publish' && Buffer.from(e.packet.payload).equals(Buffer.from(envelope)),
    'the envelope reaching the daemon',
  );
  const id = down.packet.cmd === 'publish' ? down.packet.messageId : undefined;
  await net.tap.waitFor((e) => e.seq > down.seq && e.dir === 'up' && e.clientId === to.userId && e.packet.cmd === 'puback' && e.packet.messageId === id, 'the daemon acks it');
}

async function bobsBundle(): Promise<Uint8Array> {
  const reader = await connectMallory(crypto, net.brokerUrl);
  const topic = bundleTopic(bob.userId as UserId);
  const got = new Promise<Buffer>((resolve) => reader.client.on('message', (t, p) => t === topic && resolve(Buffer.from(p))));
  await reader.client.subscribeAsync(topic, { qos: 1 });
  const bundle = await got;
  await reader.client.endAsync();
  return bundle;
}

function handshakeFrom(sender: LocalIdentity, bundleBytes: Uint8Array, text: string, useOneTimePrekey: boolean): Uint8Array {
  const now = Date.now();
  const bundle = verifyBundle(crypto, bundleBytes, bob.userId as UserId, now);
  const session = startSession(crypto, sender, null, bundle, now, { useOneTimePrekey });
  return encryptForPeer(crypto, sender, session, { kind: 'message', body: Buffer.from(text), contentType: 'text/plain' }, now).envelope;
}

describe('identity attacks', () => {
  it("a handshake claiming alice's identity key without her private key is dropped; a real sender is attributed to her own id", async () => {
    const aliceKey = (await alice.client.getIdentity()).identityKey;
    const contactsBefore = await bob.client.listContacts();
    expect(contactsBefore.map((c) => [c.userId, c.trust])).toEqual([[alice.userId, 'unverified']]);
    const mallory = createIdentity(crypto);
    const posingAsAlice: LocalIdentity = { userId: alice.userId as UserId, keyPair: { publicKey: aliceKey, privateKey: mallory.keyPair.privateKey } };

    for (const useOneTimePrekey of [true, false]) {
      await deliverAsMallory(bob, handshakeFrom(posingAsAlice, await bobsBundle(), `forged alice ${useOneTimePrekey}`, useOneTimePrekey));
    }
    // control: the same construction with a key pair mallory owns is a valid message — from mallory
    await deliverAsMallory(bob, handshakeFrom(mallory, await bobsBundle(), 'mallory, honestly', true));
    await bob.log.until(() => bob.log.texts().includes('mallory, honestly'), 'the honest message');
    await exchange(alice, bob, 'the real alice');

    expect(bob.log.texts(alice.userId)).toEqual(['hi bob, alice here', 'the real alice']);
    expect(bob.log.texts(mallory.userId)).toEqual(['mallory, honestly']);
    expect(bob.log.texts().filter((t) => t.startsWith('forged'))).toEqual([]);
    expect(bob.log.events.filter((e) => e.kind === 'identityChanged')).toEqual([]);
    const contactsAfter = await bob.client.listContacts();
    const aliceAfter = contactsAfter.find((c) => c.userId === alice.userId);
    expect(aliceAfter).toMatchObject({ trust: 'unverified', safetyNumber: contactsBefore[0]!.safetyNumber });
    expect(Buffer.from(aliceAfter!.identityKey).equals(Buffer.from(aliceKey))).toBe(true);
    expect(contactsAfter.map((c) => c.userId).sort()).toEqual([alice.userId, mallory.userId].sort());
  });

  it('a changed identity key fails closed: quarantined, alerted, sending blocked, released only by VerifyContact', async () => {
    let erin = await net.startDaemon('erin');
    await net.stopDaemon(erin);
    const store = await openDataDirStore({ dataDir: erin.dataDir, crypto });
    const formerKey = createIdentity(crypto).keyPair.publicKey; // the key erin "knew" for alice's user id
    await store.put('contact', alice.userId, encodeContact({ userId: alice.userId as UserId, identityKey: formerKey, trust: 'verified', addedAt: Date.now() - 1000 }));
    await store.close();
    erin = await net.startDaemon('erin');

    await alice.client.send({ to: erin.userId, body: 'alice with her current key' });
    await erin.log.until(() => erin.log.events.some((e) => e.kind === 'identityChanged'), 'identity_changed event');
    const alert = erin.log.events.find((e) => e.kind === 'identityChanged');
    const aliceKey = (await alice.client.getIdentity()).identityKey;
    expect(alert?.kind === 'identityChanged' && alert.userId === alice.userId && Buffer.from(alert.newIdentityKey).equals(Buffer.from(aliceKey))).toBe(true);
    const [contact] = await erin.client.listContacts();
    expect(contact).toMatchObject({ userId: alice.userId, trust: 'changed' });
    expect(Buffer.from(contact!.identityKey).equals(Buffer.from(formerKey))).toBe(true);

    const from = net.tap.events.length;
    const refused = await erin.client.send({ to: alice.userId, body: 'are you still you?' }).then(
      () => null,
      (e: unknown) => e as ApiCallError,
    );
    expect({ status: refused?.statusName, code: refused?.errorCode }).toEqual({ status: 'FAILED_PRECONDITION', code: 'UntrustedIdentity' });
    const wrong = contact!.safetyNumber.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
    await expect(erin.client.verifyContact(alice.userId, wrong)).rejects.toMatchObject({ statusName: 'FAILED_PRECONDITION' });
    expect(erin.log.texts()).toEqual([]);
    expect(net.tap.publishes('up', erin.userId).filter((p) => p.event.seq >= from && p.topic === inboxTopic(alice.userId as UserId))).toEqual([]);

    const approved = await erin.client.verifyContact(alice.userId, contact!.safetyNumber);
    expect(approved.trust).toBe('verified');
    await erin.log.until(() => erin.log.texts(alice.userId).includes('alice with her current key'), 'released message');
    await exchange(erin, alice, 'welcome back');
  });
});
