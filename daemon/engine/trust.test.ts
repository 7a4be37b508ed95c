import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { concat, utf8 } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { decodeContact, encodeQuarantine } from './records.ts';
import { createTestNet, openStoppedStore, startTestDaemon, text, type TestDaemon, type TestNet } from './test-support.ts';

let net: TestNet;
const running: TestDaemon[] = [];
beforeEach(async () => {
  net = await createTestNet();
});
afterEach(async () => {
  for (const d of running.splice(0)) {
    d.unsubscribe();
    await d.daemon.close();
  }
});

/**
 * A changed identity cannot come from the wire: a user id is the hash of its identity key
 * (core/user-id.ts), a bundle must hash to the user id it is fetched for (verifyBundle), and a
 * handshake's sender is the user id of the key its sealed sender carries (unsealSender). Another
 * key under a known user id takes a second preimage of that hash (160 bits). The 'changed' path
 * is defence in depth against exactly that. To drive it through the real path — a daemon whose
 * identity key hashes to alice's user id, its handshake through the relay, bob's receiver — the
 * test runs in a world where such a key exists: every daemon's crypto shares a table of user-id
 * hash collisions, and "new-alice"'s daemon makes its identity key with one to alice's id.
 */
function userIdCollisions(base: Crypto): { crypto: Crypto; forging(target: Uint8Array): Crypto } {
  const label = utf8.encode('ratchetd-v1/user-id');
  const hashed = (key: Uint8Array): Uint8Array => concat(label, Uint8Array.of(0x01), key);
  const redirect = new Map<string, Uint8Array>();
  const crypto: Crypto = { ...base, sha256: (data) => base.sha256(redirect.get(Buffer.from(data).toString('hex')) ?? data) };
  return {
    crypto,
    /** A crypto whose Ed25519 key pairs (the identity) hash to target's user id. */
    forging: (target) => ({
      ...crypto,
      ed25519KeyPair: () => {
        const kp = base.ed25519KeyPair();
        redirect.set(Buffer.from(hashed(kp.publicKey)).toString('hex'), hashed(target));
        return kp;
      },
    }),
  };
}

describe('trust: a changed identity fails closed until VerifyContact approves it', () => {
  it('a daemon with another key under a known user id: its messages quarantined, alerted, sending blocked, a wrong safety number refused, released on approval', async () => {
    const world = userIdCollisions(net.crypto);
    const alice = await startTestDaemon(net, { crypto: world.crypto });
    const bob = await startTestDaemon(net, { crypto: world.crypto });
    running.push(bob);
    const aliceKey = (await alice.daemon.backend.getIdentity()).identityKey;

    // bob knows alice (first contact pins her key) and has verified her; then alice goes away
    const hi = await alice.daemon.backend.send({ to: bob.userId, body: text('hi bob') });
    await bob.log.until((l) => l.texts(alice.userId).includes('hi bob'), 'alice reaches bob');
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === hi.messageId && e.state === 'delivered'), "bob's receipt reaches alice");
    await bob.daemon.backend.verifyContact(alice.userId, (await bob.daemon.backend.listContacts())[0]!.safetyNumber);
    alice.unsubscribe();
    await alice.daemon.close();

    // new-alice: another identity key, which in this world hashes to alice's user id
    const newAlice = await startTestDaemon(net, { crypto: world.forging(aliceKey) });
    running.push(newAlice);
    expect(newAlice.userId).toBe(alice.userId);
    const newKey = (await newAlice.daemon.backend.getIdentity()).identityKey;
    expect(Buffer.from(newKey).equals(Buffer.from(aliceKey))).toBe(false);

    const publishedBefore = net.hub.published.length;
    const sent = await newAlice.daemon.backend.send({ to: bob.userId, body: text('it is me, new key') });
    await bob.log.until((l) => l.events.some((e) => e.kind === 'identityChanged'), 'identity alert');
    await net.hub.idle();
    const alert = bob.log.events.find((e) => e.kind === 'identityChanged');
    expect(alert).toMatchObject({ userId: alice.userId });
    expect(alert?.kind === 'identityChanged' && Buffer.from(alert.newIdentityKey).equals(Buffer.from(newKey))).toBe(true);
    expect(bob.log.texts()).toEqual(['hi bob']); // quarantined, not delivered
    expect(net.hub.queued(bob.userId)).toBe(0); // but acked: held in bob's store
    expect(net.hub.published.slice(publishedBefore).filter((p) => p.to !== bob.userId)).toEqual([]); // bob answered nothing

    const [contact] = await bob.daemon.backend.listContacts();
    expect(contact).toMatchObject({ userId: alice.userId, trust: 'changed' });
    expect(Buffer.from(contact!.identityKey).equals(Buffer.from(aliceKey))).toBe(true);
    expect(Buffer.from(contact!.pendingIdentityKey!).equals(Buffer.from(newKey))).toBe(true);
    const newAliceView = (await newAlice.daemon.backend.listContacts())[0]!;
    expect(contact!.safetyNumber).toBe(newAliceView.safetyNumber); // shown for the new key: what the two compare

    const beforeSend = net.hub.published.length;
    await expect(bob.daemon.backend.send({ to: alice.userId, body: text('hi?') })).rejects.toMatchObject({ code: 'UntrustedIdentity' });
    expect(net.hub.published.length).toBe(beforeSend); // nothing encrypted to either key
    const wrong = contact!.safetyNumber.replace(/^./, (d) => (d === '0' ? '1' : '0'));
    await expect(bob.daemon.backend.verifyContact(alice.userId, wrong)).rejects.toMatchObject({ code: 'SafetyNumberMismatch' });
    expect((await bob.daemon.backend.listContacts())[0]!.trust).toBe('changed');

    // a new subscriber is told about the pending change too
    const replayed: string[] = [];
    const stop = await bob.daemon.backend.subscribe(0, (e) => replayed.push(e.kind));
    stop();
    expect(replayed).toContain('identityChanged');

    const approved = await bob.daemon.backend.verifyContact(alice.userId, contact!.safetyNumber.replace(/(\d{5})/g, '$1 '));
    expect(approved.trust).toBe('verified');
    expect(approved.pendingIdentityKey).toBeUndefined();
    await bob.log.until((l) => l.messages().length === 2, 'released message');
    expect(bob.log.messages()[1]).toMatchObject({ from: alice.userId, messageId: sent.messageId });
    expect(utf8.decode(bob.log.messages()[1]!.body)).toBe('it is me, new key');
    await bob.daemon.backend.send({ to: alice.userId, body: text('welcome back') });
    await newAlice.log.until((l) => l.texts().includes('welcome back'), 'new-alice gets the reply');

    // the stored contact now holds the approved key
    bob.unsubscribe();
    await bob.daemon.close();
    running.splice(running.indexOf(bob), 1);
    const s2 = await openStoppedStore(net, bob);
    const stored = decodeContact((await s2.get('contact', alice.userId))!);
    await s2.close();
    expect(stored.trust).toBe('verified');
    expect(Buffer.from(stored.identityKey).equals(Buffer.from(newKey))).toBe(true);
  });

  it("without a collision the same handshake is what it is: a new contact under mallory's own user id; alice's contact is untouched", async () => {
    const alice = await startTestDaemon(net);
    const bob = await startTestDaemon(net);
    const mallory = await startTestDaemon(net);
    running.push(alice, bob, mallory);
    await alice.daemon.backend.send({ to: bob.userId, body: text('hi bob') });
    await bob.log.until((l) => l.texts(alice.userId).includes('hi bob'), 'alice reaches bob');
    await mallory.daemon.backend.send({ to: bob.userId, body: text('it is me, new key') });
    await bob.log.until((l) => l.texts(mallory.userId).includes('it is me, new key'), 'mallory reaches bob');
    expect(bob.log.events.filter((e) => e.kind === 'identityChanged')).toEqual([]);
    const contacts = await bob.daemon.backend.listContacts();
    expect(contacts.map((c) => [c.userId, c.trust]).sort()).toEqual([
      [alice.userId, 'unverified'],
      [mallory.userId, 'unverified'],
    ].sort());
  });

  it('envelopes left in quarantine for a contact that is not blocked are released at start', async () => {
    const alice = await startTestDaemon(net);
    let bob = await startTestDaemon(net);
    running.push(alice);
    bob.unsubscribe();
    await bob.daemon.close();
    await alice.daemon.backend.send({ to: bob.userId, body: text('held over a crash') });
    const envelope = net.hub.published.find((p) => p.to === bob.userId)!.envelope;
    // as if bob had crashed between processing a released envelope and deleting it
    const store = await openStoppedStore(net, bob);
    await store.put('quarantine', '0000000000000007', encodeQuarantine({ from: alice.userId, envelope, receivedAt: 1 }));
    await store.close();
    // bob comes back on another relay, so only his quarantine can deliver it
    const other = await createTestNet();
    bob = await startTestDaemon(other, { backend: bob.backend, storeKey: bob.storeKey });
    running.push(bob);
    await bob.log.until((l) => l.texts(alice.userId).includes('held over a crash'), 'released at start');
    const held = () => [...bob.backend.data.keys()].some((k) => k.startsWith('quar!'));
    for (let i = 0; i < 1000 && held(); i++) await new Promise((r) => setImmediate(r));
    expect(held()).toBe(false);
  });

  it('VerifyContact marks an unverified contact verified with the right number only', async () => {
    const alice = await startTestDaemon(net);
    const bob = await startTestDaemon(net);
    running.push(alice, bob);
    await alice.daemon.backend.send({ to: bob.userId, body: text('x') });
    await bob.log.until((l) => l.messages().length === 1, 'x');
    const [c] = await alice.daemon.backend.listContacts();
    await expect(alice.daemon.backend.verifyContact(bob.userId, '0'.repeat(60))).rejects.toMatchObject({ code: 'SafetyNumberMismatch' });
    await expect(alice.daemon.backend.verifyContact(bob.userId, '12')).rejects.toMatchObject({ code: 'SafetyNumberMismatch' });
    expect((await alice.daemon.backend.verifyContact(bob.userId, c!.safetyNumber)).trust).toBe('verified');
    expect((await alice.daemon.backend.listContacts())[0]!.trust).toBe('verified');
  });
});
