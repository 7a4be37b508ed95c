import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createIdentity } from '../../core/index.ts';
import type { UserId } from '../../core/user-id.ts';
import { createMemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { Quarantine, type QuarantineLimits } from './quarantine.ts';
import { silentLogger } from './test-support.ts';
import { Transaction } from './transaction.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

const limits: QuarantineLimits = { perPeer: 3, bytesPerPeer: 300, total: 5, bytesTotal: 450 };
const peer = (): UserId => createIdentity(crypto).userId;
const envelope = (bytes: number, fill: number): Uint8Array => new Uint8Array(bytes).fill(fill);

async function open(): Promise<{ store: Store; reopen: () => Promise<Store> }> {
  const backend = createMemoryBackend();
  const key = crypto.randomBytes(32);
  return { store: await openMemoryStore(crypto, key, backend), reopen: () => openMemoryStore(crypto, key, backend.reopen()) };
}

async function hold(q: Quarantine, store: Store, from: UserId, e: Uint8Array): Promise<boolean> {
  const tx = new Transaction();
  const held = q.add(tx, from, e, 1);
  await tx.commit(store);
  return held;
}

describe('quarantine bounds', () => {
  it('per sender: at most `perPeer` envelopes and `bytesPerPeer` bytes; first come, first held', async () => {
    const { store } = await open();
    const q = new Quarantine(store, silentLogger, limits);
    const x = peer();
    const y = peer();
    expect([await hold(q, store, x, envelope(10, 1)), await hold(q, store, x, envelope(10, 2)), await hold(q, store, x, envelope(10, 3))]).toEqual([true, true, true]);
    expect(await hold(q, store, x, envelope(10, 4))).toBe(false);
    expect((await q.heldFrom(x)).map((h) => h.envelope[0])).toEqual([1, 2, 3]); // nothing evicted for the newcomer
    expect(await hold(q, store, y, envelope(250, 5))).toBe(true);
    expect(await hold(q, store, y, envelope(51, 6))).toBe(false); // 301 bytes from y
    expect(await hold(q, store, y, envelope(50, 7))).toBe(true);
    expect({ x: q.count(x), y: q.count(y), yBytes: q.bytes(y), dropped: q.dropped }).toEqual({ x: 3, y: 2, yBytes: 300, dropped: 2 });
  });

  it('in all: at most `total` envelopes and `bytesTotal` bytes, whatever the number of senders', async () => {
    const { store } = await open();
    const q = new Quarantine(store, silentLogger, limits);
    for (let i = 0; i < 5; i++) expect(await hold(q, store, peer(), envelope(10, i))).toBe(true);
    expect(await hold(q, store, peer(), envelope(10, 9))).toBe(false); // a sixth sender: total count
    expect(q.count()).toBe(5);

    const b = await open();
    const q2 = new Quarantine(b.store, silentLogger, limits);
    expect(await hold(q2, b.store, peer(), envelope(200, 1))).toBe(true);
    expect(await hold(q2, b.store, peer(), envelope(200, 2))).toBe(true);
    expect(await hold(q2, b.store, peer(), envelope(51, 3))).toBe(false); // 451 bytes in all
    expect(q2.bytes()).toBe(400);
  });

  it('releasing makes room, and the usage survives a restart (load)', async () => {
    const { store, reopen } = await open();
    const q = new Quarantine(store, silentLogger, limits);
    const x = peer();
    for (let i = 0; i < 3; i++) await hold(q, store, x, envelope(20, i));
    expect(await hold(q, store, x, envelope(20, 9))).toBe(false);
    await store.close();
    const again = await reopen();
    const loaded = new Quarantine(again, silentLogger, limits);
    await loaded.load();
    expect({ count: loaded.count(x), bytes: loaded.bytes(x) }).toEqual({ count: 3, bytes: 60 });
    expect(await hold(loaded, again, x, envelope(20, 9))).toBe(false); // still full after the restart
    const [first] = await loaded.heldFrom(x);
    await loaded.remove(x, first!);
    expect(await hold(loaded, again, x, envelope(20, 9))).toBe(true);
    expect({ count: loaded.count(), bytes: loaded.bytes() }).toEqual({ count: 3, bytes: 60 });
  });
});
