/**
 * The inbox on its own: cursors, replay after a cursor, Ack by message id (also after a restart),
 * and the replay's flow control.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { toHex } from '../../core/bytes.ts';
import type { UserId } from '../../core/user-id.ts';
import { createMemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import type { DaemonEvent } from './types.ts';
import { Inbox, MAX_EVENTS_BUFFERED_DURING_REPLAY } from './inbox.ts';
import { silentLogger } from './test-support.ts';
import { Transaction } from './transaction.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

const FROM = 'a'.repeat(32) as UserId;

function message(i: number) {
  const messageId = new Uint8Array(16);
  messageId[15] = i;
  return { messageId, from: FROM, body: new Uint8Array([i]), contentType: 'application/octet-stream', sentAt: 1000 + i };
}

async function addMessages(store: Store, inbox: Inbox, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    const tx = new Transaction();
    inbox.add(tx, [message(i)], 5000);
    await tx.commit(store);
    ids.push(toHex(message(i).messageId));
  }
  return ids;
}

async function ack(store: Store, inbox: Inbox, ids: string[]): Promise<number> {
  const tx = new Transaction();
  const n = await inbox.ack(tx, ids);
  await tx.commit(store);
  return n;
}

async function replay(inbox: Inbox): Promise<number[]> {
  const seen: number[] = [];
  const stop = await inbox.subscribe(0, (e: DaemonEvent) => {
    if (e.kind === 'message') seen.push(e.message.body[0]!);
  });
  stop();
  return seen;
}

describe('Inbox ack', () => {
  it('acked messages are gone, others replay, repeated and unknown ids count nothing; after a restart too', async () => {
    const key = crypto.randomBytes(32);
    const backend = createMemoryBackend();
    const store = await openMemoryStore(crypto, key, backend);
    const inbox = new Inbox(store, silentLogger);
    await inbox.load();
    const ids = await addMessages(store, inbox, 6);
    expect(inbox.depth).toBe(6);

    expect(await ack(store, inbox, [ids[0]!, ids[5]!, ids[0]!, 'ff'.repeat(16)])).toBe(2);
    expect(await ack(store, inbox, [ids[0]!])).toBe(0);
    expect(inbox.depth).toBe(4);
    expect(await replay(inbox)).toEqual([2, 3, 4, 5]);

    // After a restart the unacked ids are loaded from the inbox records.
    await store.close();
    const store2 = await openMemoryStore(crypto, key, backend.reopen());
    const inbox2 = new Inbox(store2, silentLogger);
    await inbox2.load();
    expect(inbox2.depth).toBe(4);
    expect(await ack(store2, inbox2, [ids[1]!, ids[5]!])).toBe(1);
    expect(await replay(inbox2)).toEqual([3, 4, 5]);
    await store2.close();
  });
});

describe('Inbox replay', () => {
  async function fresh(count: number) {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32), createMemoryBackend());
    const inbox = new Inbox(store, silentLogger);
    await inbox.load();
    const tx = new Transaction();
    await inbox.add(
      tx,
      Array.from({ length: count }, (_, i) => ({ ...message(0), messageId: crypto.randomBytes(16), body: new Uint8Array([i % 256]), sentAt: i })),
      5000,
    );
    await tx.commit(store);
    return { store, inbox };
  }

  it('hands on each stored message only after waitForRoom: a consumer that never has room holds the replay at one message', async () => {
    const { store, inbox } = await fresh(1000);
    let handed = 0;
    let release: (() => void) | undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    let waits = 0;
    let waiting!: () => void;
    const reachedWait = new Promise<void>((resolve) => (waiting = resolve));
    const abort = new AbortController();
    const replay = inbox.subscribe(0, () => handed++, [], {
      waitForRoom: () => {
        waits += 1;
        if (waits === 1) return undefined; // room for one, then none
        waiting();
        return blocked;
      },
      signal: abort.signal,
    });
    await reachedWait;
    expect(handed).toBe(1);
    abort.abort();
    release!();
    const stop = await replay;
    stop();
    expect(handed).toBe(1); // abandoned: nothing more is handed on
    await store.close();
  });

  it('messages stored while a replay is paced arrive once each, in cursor order, before the live ones', async () => {
    const { store, inbox } = await fresh(600); // more than two pages
    const cursors: number[] = [];
    let added = 0;
    const stop = await inbox.subscribe(
      0,
      (e) => {
        if (e.kind === 'message') cursors.push(e.message.cursor);
      },
      [],
      {
        waitForRoom: async () => {
          // a message arrives while the replay is in progress (every 100 handed on)
          if (cursors.length % 100 === 50 && added < 5) {
            added += 1;
            const tx = new Transaction();
            await inbox.add(tx, [{ ...message(0), messageId: crypto.randomBytes(16) }], 6000);
            await tx.commit(store);
          }
        },
      },
    );
    const tx = new Transaction();
    await inbox.add(tx, [{ ...message(0), messageId: crypto.randomBytes(16) }], 7000); // live
    await tx.commit(store);
    stop();
    expect(added).toBe(5);
    expect(cursors).toEqual(Array.from({ length: 606 }, (_, i) => i + 1));
    await store.close();
  });

  it('too many other events while a replay is held back end it with SlowConsumer', async () => {
    const { store, inbox } = await fresh(2);
    let release: (() => void) | undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    let waiting!: () => void;
    const reachedWait = new Promise<void>((resolve) => (waiting = resolve));
    const replay = inbox.subscribe(0, () => undefined, [], {
      waitForRoom: () => {
        waiting();
        return blocked;
      },
    });
    await reachedWait;
    for (let i = 0; i <= MAX_EVENTS_BUFFERED_DURING_REPLAY; i++) inbox.publish({ kind: 'delivery', messageId: 'x', to: FROM, state: 'sent', at: i });
    release!();
    await expect(replay).rejects.toMatchObject({ code: 'SlowConsumer' });
    await store.close();
  });
});

describe('Inbox load', () => {
  it('deletes the on-disk id index of earlier versions (the ids are held in memory now)', async () => {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32), createMemoryBackend());
    await store.put('inboxById', 'ab'.repeat(16), new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
    const inbox = new Inbox(store, silentLogger);
    await inbox.load();
    let left = 0;
    for await (const _ of store.iterate('inboxById')) left += 1;
    expect(left).toBe(0);
    await store.close();
  });
});
