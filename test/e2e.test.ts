/**
 * End to end with real processes (ISSUE 3 item 4): `ratchetd broker` and `ratchetd daemon`s started
 * from bin/ratchetd.mjs on free ports in temp dirs, driven through the gRPC API like a bot would.
 */
import { describe, expect, it } from 'vitest';
import { ApiCallError, type ApiEvent } from '../daemon/api/client.ts';
import { processParties, type Party as ProcessParty } from './fixtures/process-parties.ts';

const parties = processParties('e2e');
const { tempDir, startBroker, stopParty, kill9, receiveErrors } = parties;

/** A daemon process and a bot connected to it that records every event. */
interface Party extends ProcessParty {
  texts(): string[];
  messageIds(): string[];
}

/** Resolves as soon as the Receive stream is open (before the replay ends); `until` gives up after 40 s. */
async function startParty(name: string, dir: string, brokerUrl: string): Promise<Party> {
  const p = await parties.startParty(name, dir, brokerUrl, {
    awaitCaughtUp: false,
    untilMs: 40_000,
    timeoutDetail: (events) => `${messagesIn(events)} messages, ${count(events, 'delivered')} delivered; stream errors: ${receiveErrors().join('; ') || 'none'}`,
  });
  const messages = () => p.events.flatMap((e) => (e.kind === 'message' ? [e.message] : []));
  return {
    ...p,
    texts: () => messages().map((m) => Buffer.from(m.body).toString('utf8')),
    messageIds: () => messages().map((m) => m.messageId),
  };
}

const count = (events: ApiEvent[], state: string): number => events.filter((e) => e.kind === 'delivery' && e.state === state).length;
const messagesIn = (events: ApiEvent[]): number => events.filter((e) => e.kind === 'message').length;

describe('ratchetd end to end (real processes, gRPC)', () => {
  it('two daemons exchange messages both ways; delivery receipts come back; contacts agree', async () => {
    const broker = await startBroker(await tempDir());
    const [alice, bob] = await Promise.all([startParty('alice', await tempDir(), broker.url), startParty('bob', await tempDir(), broker.url)]);
    const sent = await alice.client.send({ to: bob.userId, body: 'hello bob' });
    await bob.until((e) => messagesIn(e) === 1, 'the message');
    await bob.client.send({ to: alice.userId, body: 'hello alice' });
    await alice.until((e) => messagesIn(e) === 1, 'the reply');
    expect(bob.texts()).toEqual(['hello bob']);
    expect(alice.texts()).toEqual(['hello alice']);
    expect(bob.messageIds()).toEqual([sent.messageId]);
    await alice.until((e) => e.some((x) => x.kind === 'delivery' && x.messageId === sent.messageId && x.state === 'delivered'), 'delivered');
    const [a] = await alice.client.listContacts();
    const [b] = await bob.client.listContacts();
    expect(a).toMatchObject({ userId: bob.userId, trust: 'unverified' });
    expect(b?.safetyNumber).toBe(a?.safetyNumber);
    expect(await bob.client.verifyContact(alice.userId, a!.safetyNumber)).toMatchObject({ trust: 'verified' });
  });

  it('a recipient offline during 200 sends gets all of them, once, in order; a broker killed with them queued loses none', async () => {
    const brokerDir = await tempDir();
    let broker = await startBroker(brokerDir);
    const bobDir = await tempDir();
    const alice = await startParty('alice', await tempDir(), broker.url);
    let bob = await startParty('bob', bobDir, broker.url);
    const bobId = bob.userId;
    await stopParty(bob, 'SIGTERM');
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push((await alice.client.send({ to: bobId, body: `m${i}` })).messageId);
    await alice.until((e) => count(e, 'sent') === 200, 'the broker took all 200');
    await kill9(broker.proc);
    broker = await startBroker(brokerDir, broker.port);
    bob = await startParty('bob', bobDir, broker.url);
    await bob.until((e) => messagesIn(e) >= 200, '200 messages');
    expect(bob.messageIds()).toEqual(ids);
    expect(bob.texts()).toEqual(ids.map((_, i) => `m${i}`));
    await alice.until((e) => count(e, 'delivered') === 200, '200 receipts');
  });

  it('kill -9 of the receiver between storing and acking loses and duplicates nothing; a restart keeps sessions', async () => {
    const broker = await startBroker(await tempDir());
    const bobDir = await tempDir();
    const alice = await startParty('alice', await tempDir(), broker.url);
    let bob = await startParty('bob', bobDir, broker.url);
    for (let i = 0; i < 20; i++) await alice.client.send({ to: bob.userId, body: `k${i}` });
    await bob.until((e) => messagesIn(e) === 20, '20 messages');
    const firstIds = bob.messageIds();
    await stopParty(bob, 'SIGKILL'); // nothing acked yet
    bob = await startParty('bob', bobDir, broker.url);
    await bob.until((e) => e.some((x) => x.kind === 'caughtUp'), 'the replay');
    expect(bob.messageIds()).toEqual(firstIds); // every stored message offered again, once
    await bob.client.ack(firstIds);
    await stopParty(bob, 'SIGKILL');
    bob = await startParty('bob', bobDir, broker.url);
    await bob.until((e) => e.some((x) => x.kind === 'caughtUp'), 'the replay');
    expect(bob.messageIds()).toEqual([]); // acked: never offered again
    await alice.client.send({ to: bob.userId, body: 'after the crashes' });
    await bob.until((e) => messagesIn(e) === 1, 'a new message');
    await bob.client.send({ to: alice.userId, body: 'still here' });
    await alice.until((e) => messagesIn(e) === 1, 'a reply');
    expect((await alice.client.listContacts()).map((c) => c.userId)).toEqual([bob.userId]);
  });

  it('the same idempotency key sends once; bad input gets precise status codes', async () => {
    const broker = await startBroker(await tempDir());
    const [alice, bob] = await Promise.all([startParty('alice', await tempDir(), broker.url), startParty('bob', await tempDir(), broker.url)]);
    const a = await alice.client.send({ to: bob.userId, body: 'once', idempotencyKey: 'job-7' });
    const b = await alice.client.send({ to: bob.userId, body: 'once', idempotencyKey: 'job-7' });
    expect(b.messageId).toBe(a.messageId);
    await alice.until((e) => count(e, 'delivered') === 1, 'delivered');
    await alice.client.send({ to: bob.userId, body: 'marker' });
    await bob.until((e) => messagesIn(e) === 2, 'the marker');
    expect(bob.texts()).toEqual(['once', 'marker']);
    const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ApiCallError);
    expect(await failure(alice.client.send({ to: 'not-a-user-id', body: 'x' }))).toMatchObject({ statusName: 'INVALID_ARGUMENT' });
    expect(await failure(alice.client.send({ to: 'abcdefghijklmnopqrstuvwxyz234567', body: 'x' }))).toMatchObject({ statusName: 'NOT_FOUND' });
    expect(await failure(alice.client.send({ to: bob.userId, body: 'other', idempotencyKey: 'job-7' }))).toMatchObject({ statusName: 'ALREADY_EXISTS' });
    expect(await failure(alice.client.verifyContact(bob.userId, '1'.repeat(60)))).toMatchObject({ statusName: 'FAILED_PRECONDITION' });
  });
});
