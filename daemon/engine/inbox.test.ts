/**
 * The inbox on its own: cursors, replay after a cursor, and Ack by message id — from the cursors it
 * remembers and, past that memory or after a restart, from the store.
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
import { Inbox } from './inbox.ts';
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
    await inbox.add(tx, [message(i)], 5000);
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
  it.each([
    ['every cursor remembered', 100],
    ['only the last two remembered (the rest read from the store)', 2],
  ])('%s: acked messages are gone, others replay, repeated and unknown ids count nothing', async (_name, remembered) => {
    const key = crypto.randomBytes(32);
    const backend = createMemoryBackend();
    const store = await openMemoryStore(crypto, key, backend);
    const inbox = new Inbox(store, silentLogger, remembered);
    await inbox.load();
    const ids = await addMessages(store, inbox, 6);
    expect(inbox.depth).toBe(6);

    expect(await ack(store, inbox, [ids[0]!, ids[5]!, ids[0]!, 'ff'.repeat(16)])).toBe(2);
    expect(await ack(store, inbox, [ids[0]!])).toBe(0);
    expect(inbox.depth).toBe(4);
    expect(await replay(inbox)).toEqual([2, 3, 4, 5]);

    // After a restart nothing is remembered: acks read the store.
    await store.close();
    const store2 = await openMemoryStore(crypto, key, backend.reopen());
    const inbox2 = new Inbox(store2, silentLogger, remembered);
    await inbox2.load();
    expect(inbox2.depth).toBe(4);
    expect(await ack(store2, inbox2, [ids[1]!, ids[5]!])).toBe(1);
    expect(await replay(inbox2)).toEqual([3, 4, 5]);
    await store2.close();
  });
});
