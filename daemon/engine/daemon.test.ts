import { describe, expect, it } from 'vitest';
import { engineTestScope } from './test-scope.ts';
import { utf8 } from '../../core/bytes.ts';
import { safetyNumber } from '../../core/safety-number.ts';
import type { UserId } from '../../core/user-id.ts';
import { text, type TestDaemon } from './test-support.ts';

const scope = engineTestScope();

const delivered = (d: TestDaemon, messageId: string) =>
  d.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), `delivery of ${messageId}`);

/** The envelope kind byte the relay saw (1 session, 2 handshake) for messages to `to`. */
const kindsTo = (to: UserId): number[] => scope.net.hub.published.filter((p) => p.to === to).map((p) => p.envelope[1] ?? -1);

describe('daemon engine: two daemons through an in-process relay', () => {
  it('sends both ways, delivers once with sender and metadata, and reports delivery from encrypted receipts', async () => {
    const alice = await scope.start();
    const bob = await scope.start();
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('hello bob'), contentType: 'text/plain' });
    expect(messageId).toMatch(/^[0-9a-f]{32}$/);
    await bob.log.until((l) => l.messages().length === 1, 'bob receives');
    const m = bob.log.messages()[0]!;
    expect(m).toMatchObject({ messageId, from: alice.userId, contentType: 'text/plain' });
    expect(utf8.decode(m.body)).toBe('hello bob');
    expect(m.cursor).toBeGreaterThan(0);
    await delivered(alice, messageId);

    const reply = await bob.daemon.backend.send({ to: alice.userId, body: text('hi alice') });
    await alice.log.until((l) => l.texts(bob.userId).includes('hi alice'), 'alice receives');
    await delivered(bob, reply.messageId);
    // the first message was a handshake; after bob's reply (and receipts) alice uses the session kind
    await alice.daemon.backend.send({ to: bob.userId, body: text('second') });
    await bob.log.until((l) => l.messages().length === 2, 'bob receives the second');
    expect(kindsTo(bob.userId)[0]).toBe(4); // a PQXDH handshake: both daemons publish PQ prekeys
    expect(kindsTo(bob.userId).at(-1)).toBe(1);
    expect(bob.log.texts()).toEqual(['hello bob', 'second']);
    // the relay never saw a plaintext
    for (const p of scope.net.hub.published) expect(Buffer.from(p.envelope).includes(Buffer.from('hello bob'))).toBe(false);
  });

  it('lists contacts (trust on first use) with the same safety number on both sides, and status', async () => {
    const alice = await scope.start();
    const bob = await scope.start();
    await alice.daemon.backend.send({ to: bob.userId, body: text('x') });
    await bob.log.until((l) => l.messages().length === 1, 'bob receives');
    const [aliceSees] = await alice.daemon.backend.listContacts();
    const [bobSees] = await bob.daemon.backend.listContacts();
    expect(aliceSees).toMatchObject({ userId: bob.userId, trust: 'unverified' });
    expect(bobSees).toMatchObject({ userId: alice.userId, trust: 'unverified' });
    expect(aliceSees!.safetyNumber).toMatch(/^\d{60}$/);
    expect(aliceSees!.safetyNumber).toBe(bobSees!.safetyNumber);
    const ids = [await alice.daemon.backend.getIdentity(), await bob.daemon.backend.getIdentity()];
    expect(aliceSees!.safetyNumber).toBe(safetyNumber(scope.net.crypto, ids[0]!, ids[1]!));
    const status = await bob.daemon.backend.getStatus();
    expect(status).toMatchObject({ brokerConnected: true, contacts: 1, inboxDepth: 1 });
    expect(status.oneTimePrekeys).toBe(99);
    const id = await bob.daemon.backend.getIdentity();
    expect(id.userId).toBe(bob.userId);
    expect(id.fingerprint).toMatch(/^\d{30}$/);
    expect(bobSees!.safetyNumber.includes(id.fingerprint)).toBe(true);
  });

  it('the same idempotency key returns the same message id and sends once; another message with it conflicts', async () => {
    const alice = await scope.start();
    const bob = await scope.start();
    const req = { to: bob.userId, body: text('pay 10'), idempotencyKey: 'order-42' };
    const [a, b] = await Promise.all([alice.daemon.backend.send(req), alice.daemon.backend.send(req)]);
    const c = await alice.daemon.backend.send(req);
    expect(b.messageId).toBe(a.messageId);
    expect(c.messageId).toBe(a.messageId);
    await expect(alice.daemon.backend.send({ ...req, body: text('pay 1000') })).rejects.toMatchObject({ code: 'IdempotencyConflict' });
    await delivered(alice, a.messageId);
    expect(bob.log.texts()).toEqual(['pay 10']);
    expect(kindsTo(bob.userId)).toHaveLength(1);
    // and after a restart the key is still remembered
    const again = await scope.restart(alice);
    expect((await again.daemon.backend.send(req)).messageId).toBe(a.messageId);
  });

  it('a recipient offline during the sends gets every message once, in order, when it starts again', async () => {
    const alice = await scope.start();
    let bob = await scope.start();
    bob.unsubscribe();
    await bob.daemon.close();
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`m${i}`) })).messageId);
    expect(scope.net.hub.queued(bob.userId)).toBe(60);
    bob = await scope.restart(bob);
    await bob.log.until((l) => l.messages().length >= 60, 'bob receives 60');
    expect(bob.log.texts()).toEqual(ids.map((_, i) => `m${i}`));
    expect(bob.log.messages().map((m) => m.messageId)).toEqual(ids);
    await alice.log.until((l) => l.events.filter((e) => e.kind === 'delivery' && e.state === 'delivered').length === 60, '60 delivered');
    expect((await alice.daemon.backend.getStatus()).outboxDepth).toBe(0);
  });

  it('a restart keeps identity, sessions and transcript: no new handshake, messages still flow both ways', async () => {
    let alice = await scope.start();
    let bob = await scope.start();
    await alice.daemon.backend.send({ to: bob.userId, body: text('one') });
    await bob.log.until((l) => l.messages().length === 1, 'one');
    await bob.daemon.backend.send({ to: alice.userId, body: text('two') });
    await alice.log.until((l) => l.messages().length === 1, 'two');
    const aliceId = alice.userId;
    alice = await scope.restart(alice);
    bob = await scope.restart(bob);
    expect(alice.userId).toBe(aliceId);
    const before = kindsTo(bob.userId).length;
    await alice.daemon.backend.send({ to: bob.userId, body: text('three') });
    await bob.log.until((l) => l.texts().includes('three'), 'three');
    // Only session envelopes (kind 1): 'three', and maybe the receipt for 'two' that alice owed
    // bob when she restarted. A new handshake (kind 2) would mean the session was lost.
    const after = kindsTo(bob.userId).slice(before);
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.every((k) => k === 1)).toBe(true);
    await bob.daemon.backend.send({ to: alice.userId, body: text('four') });
    await alice.log.until((l) => l.texts().includes('four'), 'four');
    // bob's restarted subscription replayed the unacked 'one' first (cursor order)
    expect(bob.log.texts()).toEqual(['one', 'three']);
  });

  it('Receive replays unacked messages after a cursor; Ack removes them; cursors only grow', async () => {
    const alice = await scope.start();
    const bob = await scope.start();
    for (const t of ['a', 'b', 'c']) await alice.daemon.backend.send({ to: bob.userId, body: text(t) });
    await bob.log.until((l) => l.messages().length === 3, 'three messages');
    const [ma, mb, mc] = bob.log.messages();
    expect(ma!.cursor).toBeLessThan(mb!.cursor);
    expect(mb!.cursor).toBeLessThan(mc!.cursor);
    await bob.daemon.backend.ack([mb!.messageId, 'ffffffffffffffffffffffffffffffff']);
    const replay: string[] = [];
    const stop = await bob.daemon.backend.subscribe(0, (e) => e.kind === 'message' && replay.push(utf8.decode(e.message.body)));
    expect(replay).toEqual(['a', 'c']);
    stop();
    const after: string[] = [];
    const stop2 = await bob.daemon.backend.subscribe(ma!.cursor, (e) => e.kind === 'message' && after.push(utf8.decode(e.message.body)));
    expect(after).toEqual(['c']);
    stop2();
    await bob.daemon.backend.ack([ma!.messageId, mc!.messageId]);
    expect((await bob.daemon.backend.getStatus()).inboxDepth).toBe(0);
    const restarted = await scope.restart(bob);
    expect(restarted.log.messages()).toEqual([]);
    await alice.daemon.backend.send({ to: bob.userId, body: text('d') });
    await restarted.log.until((l) => l.messages().length === 1, 'd');
    expect(restarted.log.messages()[0]!.cursor).toBeGreaterThan(mc!.cursor);
  });

  it('refuses bad sends with the right codes', async () => {
    const alice = await scope.start();
    await expect(alice.daemon.backend.send({ to: alice.userId, body: text('me') })).rejects.toMatchObject({ code: 'InvalidArgument' });
    const nobody = 'abcdefghijklmnopqrstuvwxyz234567' as UserId;
    await expect(alice.daemon.backend.send({ to: nobody, body: text('?') })).rejects.toMatchObject({ code: 'UnknownPeer' });
    await expect(alice.daemon.backend.verifyContact(nobody, '1'.repeat(60))).rejects.toMatchObject({ code: 'UnknownPeer' });
  });
});
