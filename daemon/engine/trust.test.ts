import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../core/bytes.ts';
import { encodeContact, decodeContact, encodeQuarantine } from './records.ts';
import { createTestNet, openStoppedStore, restartTestDaemon, startTestDaemon, text, type TestDaemon, type TestNet } from './test-support.ts';

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

describe('trust: a changed identity fails closed until VerifyContact approves it', () => {
  it('quarantines, alerts, blocks sending, refuses a wrong safety number, then releases on approval', async () => {
    const alice = await startTestDaemon(net);
    running.push(alice);
    let bob = await startTestDaemon(net);
    // Bob "knew" alice's user id with another identity key (what a changed key looks like to him).
    bob.unsubscribe();
    await bob.daemon.close();
    const store = await openStoppedStore(net, bob);
    const oldKey = net.crypto.ed25519KeyPair().publicKey;
    await store.put('contact', alice.userId, encodeContact({ userId: alice.userId, identityKey: oldKey, trust: 'verified', addedAt: 1 }));
    await store.close();
    bob = await restartTestDaemon(net, bob);
    running.push(bob);

    const sent = await alice.daemon.backend.send({ to: bob.userId, body: text('it is me, new key') });
    await bob.log.until((l) => l.events.some((e) => e.kind === 'identityChanged'), 'identity alert');
    await net.hub.idle();
    const alert = bob.log.events.find((e) => e.kind === 'identityChanged');
    expect(alert).toMatchObject({ userId: alice.userId });
    expect(alert?.kind === 'identityChanged' && Buffer.from(alert.newIdentityKey).equals(Buffer.from((await alice.daemon.backend.getIdentity()).identityKey))).toBe(true);
    expect(bob.log.messages()).toEqual([]); // quarantined, not delivered
    expect(net.hub.queued(bob.userId)).toBe(0); // but acked: held in bob's store

    const [contact] = await bob.daemon.backend.listContacts();
    expect(contact).toMatchObject({ userId: alice.userId, trust: 'changed' });
    expect(Buffer.from(contact!.identityKey).equals(Buffer.from(oldKey))).toBe(true);
    expect(contact!.pendingIdentityKey).toBeDefined();
    const aliceView = (await alice.daemon.backend.listContacts())[0]!;
    expect(contact!.safetyNumber).toBe(aliceView.safetyNumber); // shown for the new key

    await expect(bob.daemon.backend.send({ to: alice.userId, body: text('hi?') })).rejects.toMatchObject({ code: 'UntrustedIdentity' });
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
    await bob.log.until((l) => l.messages().length === 1, 'released message');
    expect(utf8.decode(bob.log.messages()[0]!.body)).toBe('it is me, new key');
    expect(bob.log.messages()[0]!.messageId).toBe(sent.messageId);
    await bob.daemon.backend.send({ to: alice.userId, body: text('welcome back') });
    await alice.log.until((l) => l.texts().includes('welcome back'), 'alice gets the reply');

    // the stored contact now holds the approved key
    bob.unsubscribe();
    await bob.daemon.close();
    running.splice(running.indexOf(bob), 1);
    const s2 = await openStoppedStore(net, bob);
    const stored = decodeContact((await s2.get('contact', alice.userId))!);
    await s2.close();
    expect(stored.trust).toBe('verified');
    expect(Buffer.from(stored.identityKey).equals(Buffer.from(oldKey))).toBe(false);
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
