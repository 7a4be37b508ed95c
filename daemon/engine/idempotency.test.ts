/**
 * Idempotency records do not grow without bound: global keys expire after the retention (injected
 * clock) and are capped in number; reply-scoped keys are deleted by the ack of the message they
 * answer, also when the ack races the reply; records of earlier versions are adopted.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Writer } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import type { UserId } from '../../core/user-id.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { createMemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import type { RecordKind } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import { DEFAULT_IDEMPOTENCY_RETENTION_MS, IdempotencyTable } from './idempotency.ts';
import { Inbox } from './inbox.ts';
import { encodeReplyIdempotency } from './records.ts';
import { createTestNet, openStoppedStore, restartTestDaemon, silentLogger, startTestDaemon, text, type TestDaemon, type TestNet } from './test-support.ts';
import { Transaction } from './transaction.ts';

const DAY = 24 * 3600_000;
const PEER = 'b'.repeat(32) as UserId;

async function count(store: Store, kind: RecordKind): Promise<number> {
  let n = 0;
  for await (const _ of store.iterate(kind)) n += 1;
  return n;
}

describe('idempotency through the daemon', () => {
  let net: TestNet;
  const running: TestDaemon[] = [];
  const start = async (): Promise<TestDaemon> => {
    const d = await startTestDaemon(net);
    running.push(d);
    return d;
  };
  const restart = async (d: TestDaemon): Promise<TestDaemon> => {
    const again = await restartTestDaemon(net, d);
    running[running.indexOf(d)] = again;
    return again;
  };
  beforeEach(async () => {
    net = await createTestNet();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) {
      d.unsubscribe();
      await d.daemon.close();
    }
  });

  it('a key is kept for the retention (7 days) and forgotten by the next sweep after it', async () => {
    let alice = await start();
    const bob = await start();
    const req = { to: bob.userId, body: text('deploy 42?'), idempotencyKey: 'job-42' };
    const first = await alice.daemon.backend.send(req);
    expect((await alice.daemon.backend.getStatus()).idempotencyRecords).toBe(1);

    net.clock.offsetMs = DEFAULT_IDEMPOTENCY_RETENTION_MS - DAY;
    alice = await restart(alice); // a sweep at start: the key is 6 days old and stays
    expect((await alice.daemon.backend.send(req)).messageId).toBe(first.messageId);

    net.clock.offsetMs = DEFAULT_IDEMPOTENCY_RETENTION_MS + 3600_000;
    alice = await restart(alice); // now it is past the retention: deleted
    expect((await alice.daemon.backend.getStatus()).idempotencyRecords).toBe(0);
    const again = await alice.daemon.backend.send(req);
    expect(again.messageId).not.toBe(first.messageId);
  });

  it('a reply names the message it answers: its key holds until that message is acked, and the ack deletes it', async () => {
    const alice = await start();
    const bob = await start();
    await alice.daemon.backend.send({ to: bob.userId, body: text('question') });
    await bob.log.until((l) => l.messages().length === 1, 'bob receives the question');
    const question = bob.log.messages()[0]!;

    const reply = { to: alice.userId, body: text('answer'), idempotencyKey: `${question.messageId}:r0`, replyTo: question.messageId };
    const sent = await bob.daemon.backend.send(reply);
    expect((await bob.daemon.backend.send(reply)).messageId).toBe(sent.messageId); // a retry before the ack
    await expect(bob.daemon.backend.send({ ...reply, body: text('another answer') })).rejects.toMatchObject({ code: 'IdempotencyConflict' });
    expect((await bob.daemon.backend.getStatus()).idempotencyRecords).toBe(1);

    await bob.daemon.backend.ack([question.messageId]);
    expect((await bob.daemon.backend.getStatus()).idempotencyRecords).toBe(0);
    await alice.log.until((l) => l.texts(bob.userId).includes('answer'), 'alice gets the answer');
    expect(alice.log.texts(bob.userId)).toEqual(['answer']);

    bob.unsubscribe();
    await bob.daemon.close();
    running.splice(running.indexOf(bob), 1);
    const store = await openStoppedStore(net, bob);
    expect({ global: await count(store, 'idempotency'), order: await count(store, 'idemOrder'), replies: await count(store, 'replyIdem') }).toEqual({ global: 0, order: 0, replies: 0 });
    await store.close();
  });
});

describe('IdempotencyTable', () => {
  let crypto: Crypto;
  beforeAll(async () => {
    crypto = await createSodiumCrypto();
  });
  const entry = (i: number) => ({ messageId: new Uint8Array(16).fill(i), to: PEER, requestHash: new Uint8Array(32).fill(i) });

  async function open(o: { maxRecords?: number; now?: () => number } = {}) {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32), createMemoryBackend());
    const inbox = new Inbox(store, silentLogger);
    await inbox.load();
    const table = new IdempotencyTable(store, inbox, silentLogger, o.now ?? (() => 1_000), { ...(o.maxRecords !== undefined ? { maxRecords: o.maxRecords } : {}) });
    inbox.onAcked = table.releaseReplies;
    await table.load();
    return { store, inbox, table };
  }

  async function recordKey(store: Store, table: IdempotencyTable, key: string, i: number, replyTo?: string): Promise<void> {
    const scope = await table.open(key, replyTo);
    const tx = new Transaction();
    table.record(tx, scope, entry(i), 1_000);
    await tx.commit(store);
    table.close(scope);
  }

  it('keeps at most maxRecords keys: a sweep deletes the oldest beyond it', async () => {
    const { store, table } = await open({ maxRecords: 5 });
    for (let i = 0; i < 12; i++) await recordKey(store, table, `k${i}`, i);
    expect(table.size).toBe(12);
    expect(await table.sweep()).toBe(7);
    expect(table.size).toBe(5);
    expect(await count(store, 'idempotency')).toBe(5);
    expect(await count(store, 'idemOrder')).toBe(5);
    const find = async (key: string) => table.find(await table.open(key, undefined));
    expect(await find('k6')).toBeUndefined();
    expect((await find('k7'))?.messageId).toEqual(entry(7).messageId);
    expect((await find('k11'))?.messageId).toEqual(entry(11).messageId);
    await store.close();
  });

  async function addMessage(store: Store, inbox: Inbox): Promise<string> {
    const tx = new Transaction();
    const [m] = await inbox.add(tx, [{ messageId: crypto.randomBytes(16), from: PEER, body: text('q'), contentType: 'text/plain', sentAt: 1 }], 2);
    await tx.commit(store);
    return m!.messageId;
  }

  async function ack(store: Store, inbox: Inbox, id: string): Promise<void> {
    const tx = new Transaction();
    await inbox.ack(tx, [id]);
    await tx.commit(store);
  }

  it('a reply recorded before the ack is deleted in the ack batch; one recorded after the ack began goes to the global table', async () => {
    const { store, inbox, table } = await open();
    const m1 = await addMessage(store, inbox);
    await recordKey(store, table, 'r', 1, m1);
    expect(table.replyRecords).toBe(1);
    await ack(store, inbox, m1);
    expect(table.replyRecords).toBe(0);
    expect(await count(store, 'replyIdem')).toBe(0);

    // The race: the scope is opened while the message is unacked, the ack is built before the reply
    // is recorded. The record must not be left under a cursor nobody will ack again.
    const m2 = await addMessage(store, inbox);
    const scope = await table.open('r', m2);
    expect(scope.cursor).toBeDefined();
    const acking = new Transaction();
    await inbox.ack(acking, [m2]);
    const tx = new Transaction();
    table.record(tx, scope, entry(2), 1_000);
    await tx.commit(store);
    await acking.commit(store);
    table.close(scope);
    expect(await count(store, 'replyIdem')).toBe(0);
    expect(table.size).toBe(1); // recorded globally instead, with a retention
    await store.close();
  });

  it('adopts records of the first version (no retention order) and deletes reply records whose message is gone', async () => {
    const key = crypto.randomBytes(32);
    const backend = createMemoryBackend();
    const store = await openMemoryStore(crypto, key, backend);
    const v1 = new Writer().u8(1).fixed(entry(3).messageId).string16(PEER).fixed(entry(3).requestHash).u64(5_000).finish();
    await store.put('idempotency', 'old-key', v1);
    await store.put('replyIdem', '0000000000000007:0', encodeReplyIdempotency({ cursor: 7, key: 'gone', ...entry(4), at: 5_000 }));
    await store.close();

    let now = 6_000;
    const reopened = await openMemoryStore(crypto, key, backend.reopen());
    const inbox = new Inbox(reopened, silentLogger);
    await inbox.load();
    const table = new IdempotencyTable(reopened, inbox, silentLogger, () => now);
    await table.load();
    expect(await count(reopened, 'replyIdem')).toBe(0);
    expect(table.size).toBe(1);
    expect((await table.find(await table.open('old-key', undefined)))?.messageId).toEqual(entry(3).messageId);
    expect(await table.sweep()).toBe(0);
    now = 5_000 + DEFAULT_IDEMPOTENCY_RETENTION_MS;
    expect(await table.sweep()).toBe(1);
    expect(await count(reopened, 'idempotency')).toBe(0);
    await reopened.close();
  });
});
