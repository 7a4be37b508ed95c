/**
 * Tables that others can fill are bounded: the contact table (anyone can make an identity and send
 * a first message), idle unverified contacts (forgotten after the retention, injected clock), and
 * the inbox (a client that does not ack). At each limit nothing is lost: what is refused is stored
 * nowhere and its sender's outbox sends it again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UserId } from '../../core/user-id.ts';
import type { EngineLimits, EngineTiming } from './config.ts';
import { DEFAULT_CONTACT_IDLE_RETENTION_MS } from './contacts.ts';
import { createTestNet, openStoppedStore, restartTestDaemon, startTestDaemon, text, type TestDaemon, type TestNet } from './test-support.ts';

const DAY = 24 * 3600_000;
/** Quick retransmissions, so a refused message comes back within the test. */
const TIMING: Partial<EngineTiming> = {
  outbox: { retryInitialMs: 50, retryMaxMs: 200, tickMs: 20, maxAgeMs: 7 * DAY, stuckAfterPublishes: 3 },
  transcriptWaitMs: 300,
};

let net: TestNet;
const running: TestDaemon[] = [];
async function start(limits: Partial<EngineLimits> = {}): Promise<TestDaemon> {
  const d = await startTestDaemon(net, { timing: TIMING, limits });
  running.push(d);
  return d;
}
async function restart(d: TestDaemon, limits: Partial<EngineLimits> = {}): Promise<TestDaemon> {
  const again = await restartTestDaemon(net, d, { timing: TIMING, limits });
  running[running.indexOf(d)] = again;
  return again;
}
/** Polls GetStatus until pred holds; fails naming `what` after a deadline. */
async function statusUntil(d: TestDaemon, what: string, pred: (s: Awaited<ReturnType<TestDaemon['daemon']['backend']['getStatus']>>) => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!pred(await d.daemon.backend.getStatus())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeEach(async () => {
  net = await createTestNet();
});
afterEach(async () => {
  for (const d of running.splice(0)) {
    d.unsubscribe();
    await d.daemon.close();
  }
});

describe('contact table bound', () => {
  it('at the limit a first message from an unknown sender is refused unstored and counted; known contacts go on; the sender gets in once there is room', async () => {
    let bob = await start({ maxContacts: 2 });
    const alice = await start();
    const carol = await start();
    const dave = await start();
    await alice.daemon.backend.send({ to: bob.userId, body: text('from alice') });
    await carol.daemon.backend.send({ to: bob.userId, body: text('from carol') });
    await bob.log.until((l) => l.messages().length === 2, 'two contacts');

    await dave.daemon.backend.send({ to: bob.userId, body: text('from dave') });
    await statusUntil(bob, 'a refused first contact', (s) => s.contactsRefused >= 1);
    await alice.daemon.backend.send({ to: bob.userId, body: text('alice again') });
    await bob.log.until((l) => l.texts(alice.userId).includes('alice again'), 'a known contact still gets through');
    const status = await bob.daemon.backend.getStatus();
    expect(status.contacts).toBe(2);
    expect(bob.log.texts(dave.userId)).toEqual([]);
    expect((await bob.daemon.backend.listContacts()).map((c) => c.userId)).not.toContain(dave.userId);

    bob = await restart(bob, { maxContacts: 3 });
    await bob.log.until((l) => l.texts(dave.userId).includes('from dave'), "dave's outbox resends his first message");
    expect(bob.log.texts(dave.userId)).toEqual(['from dave']);
  });
});

describe('idle unverified contacts', () => {
  it('are forgotten with their sessions after the retention; verified and recently active ones stay; a forgotten one can talk again', async () => {
    let bob = await start();
    const alice = await start();
    const carol = await start();
    const erin = await start();
    // One first contact after the other, each from the bundle bob republished after the one before:
    // this test is not about two initiators racing for a one-time prekey (core/conversation.test.ts,
    // recovery.test.ts are), whose loser waits handshakeAnswerWaitMs before it starts again.
    for (const [i, [d, what]] of ([[alice, 'alice'], [carol, 'carol'], [erin, 'erin']] as const).entries()) {
      const bundle = net.hub.retained.get(bob.userId);
      await d.daemon.backend.send({ to: bob.userId, body: text(`hi from ${what}`) });
      await bob.log.until((l) => l.messages().length === i + 1, `${what}'s first message`);
      await statusUntil(bob, "bob's bundle republished", () => net.hub.retained.get(bob.userId) !== bundle);
    }
    const carolContact = (await bob.daemon.backend.listContacts()).find((c) => c.userId === carol.userId)!;
    await bob.daemon.backend.verifyContact(carol.userId, carolContact.safetyNumber);

    net.clock.offsetMs = DEFAULT_CONTACT_IDLE_RETENTION_MS - 2 * DAY;
    await erin.daemon.backend.send({ to: bob.userId, body: text('erin is still here') });
    await bob.log.until((l) => l.texts(erin.userId).includes('erin is still here'), 'erin active');

    net.clock.offsetMs = DEFAULT_CONTACT_IDLE_RETENTION_MS + DAY; // alice idle 31 days, erin 3
    bob = await restart(bob); // forgets idle contacts at start
    await statusUntil(bob, 'alice forgotten', (s) => s.contacts === 2);
    const kept = (await bob.daemon.backend.listContacts()).map((c) => c.userId as UserId);
    expect(kept.sort()).toEqual([carol.userId, erin.userId].sort());

    bob.unsubscribe();
    await bob.daemon.close();
    const store = await openStoppedStore(net, bob);
    expect(await store.get('peer', alice.userId)).toBeUndefined();
    expect(await store.get('contact', alice.userId)).toBeUndefined();
    expect(await store.get('peer', erin.userId)).toBeDefined();
    await store.close();
    bob = await restart(bob);

    // Alice's envelopes on the old session route nowhere now; her outbox sees no receipt, sets up
    // a new session, and bob takes her as a new contact.
    await alice.daemon.backend.send({ to: bob.userId, body: text('alice is back') });
    await bob.log.until((l) => l.texts(alice.userId).includes('alice is back'), 'alice talks again');
    expect((await bob.daemon.backend.listContacts()).map((c) => c.userId)).toContain(alice.userId);
  });
});

describe('inbox bound', () => {
  it('a full inbox refuses new messages unstored; once the client acks, the senders resend them, in order', async () => {
    const bob = await start({ maxInboxMessages: 3 });
    const alice = await start();
    for (let i = 1; i <= 5; i++) await alice.daemon.backend.send({ to: bob.userId, body: text(`m${i}`) });
    await bob.log.until((l) => l.messages().length === 3, 'three stored');
    await statusUntil(bob, 'a refused message', (s) => s.messagesRefused >= 1);
    expect((await bob.daemon.backend.getStatus()).inboxDepth).toBe(3);

    await bob.daemon.backend.ack(bob.log.messages().map((m) => m.messageId));
    await bob.log.until((l) => l.messages().length === 5, 'the rest after the ack');
    expect(bob.log.texts()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });
});
