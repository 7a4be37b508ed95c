/**
 * Group commit (group-commit.ts): writes arriving while one LevelDB batch is being written go into
 * the next single batch, settle in call order, and are visible to reads at once; held writes
 * (putLater/delLater) replaced before they are due cost one operation; a failed batch rejects its
 * writers and leaves reads answering from the database. The database's batch() is wrapped so each
 * test decides when a write completes (no timing).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GroupCommitStore, LAZY_WRITE_DELAY_MS } from './group-commit.ts';

interface Written {
  readonly ops: Array<{ type: 'put' | 'del'; key: string }>;
  /** Lets the write reach LevelDB (or fails it). */
  release(failure?: Error): void;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** A store over a real database whose batches wait in `writes` until released. */
async function gatedStore(): Promise<{ store: GroupCommitStore; db: Level<string, string>; writes: Written[]; nextWrite: () => Promise<Written> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-group-commit-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const db = new Level<string, string>(dir, { valueEncoding: 'buffer' } as never);
  await db.open();
  const writes: Written[] = [];
  let waiter: ((w: Written) => void) | null = null;
  let gated = true; // at cleanup, every write goes through
  const batch = db.batch.bind(db);
  (db as unknown as { batch: () => unknown }).batch = () => {
    const real = batch();
    const ops: Written['ops'] = [];
    return {
      put: (key: string, value: Buffer) => (ops.push({ type: 'put', key }), real.put(key, value as never)),
      del: (key: string) => (ops.push({ type: 'del', key }), real.del(key)),
      write: (options: unknown) =>
        new Promise<void>((resolve, reject) => {
          let released = false;
          const w: Written = {
            ops,
            release: (failure) => {
              if (released) return;
              released = true;
              if (failure) void real.close().then(() => reject(failure));
              else real.write(options as never).then(resolve, reject);
            },
          };
          writes.push(w);
          if (!gated) w.release();
          waiter?.(w);
          waiter = null;
        }),
    };
  };
  const store = new GroupCommitStore(db, { sync: false });
  cleanups.push(async () => {
    gated = false;
    for (const w of writes) w.release();
    await store.close();
  });
  const nextWrite = (): Promise<Written> => {
    const unseen = writes.find((w) => !seen.has(w));
    if (unseen !== undefined) return Promise.resolve(markSeen(unseen));
    return new Promise((resolve) => (waiter = (w) => resolve(markSeen(w))));
  };
  const seen = new Set<Written>();
  const markSeen = (w: Written): Written => (seen.add(w), w);
  return { store, db, writes, nextWrite };
}

const record = (n: number) => ({ topic: `t/${n}`, payload: Buffer.from(`p${n}`), n });

describe('GroupCommitStore', () => {
  it('writes made while a batch is in flight go into the next single batch, and settle in call order', async () => {
    const { store, nextWrite } = await gatedStore();
    const settled: number[] = [];
    void store.put('k:0', record(0)).then(() => settled.push(0));
    const first = await nextWrite();
    expect(first.ops).toEqual([{ type: 'put', key: 'k:0' }]);
    for (let i = 1; i <= 100; i++) void store.put(`k:${i}`, record(i)).then(() => settled.push(i));
    void store.del('k:0').then(() => settled.push(-1));
    first.release();
    const second = await nextWrite();
    expect(second.ops).toHaveLength(101); // one batch, not 101
    expect(second.ops.at(-1)).toEqual({ type: 'del', key: 'k:0' });
    expect(settled).toEqual([0]);
    second.release();
    await store.settled();
    expect(settled).toEqual([0, ...Array.from({ length: 100 }, (_, i) => i + 1), -1]);
  });

  it('reads see writes not yet on disk: get, and scans merged into the database range in key order', async () => {
    const { store, db, nextWrite } = await gatedStore();
    void store.put('q:b', record(1));
    void store.put('q:é', record(2));
    (await nextWrite()).release();
    await store.settled();
    void store.put('q:a', record(3)); // pending
    void store.del('q:b'); // pending delete of a record on disk
    void store.put('q:😀', record(4)); // sorts after 'é' in UTF-8 (LevelDB's order)
    void store.put('r:x', record(5)); // another prefix
    expect((await store.get('q:a'))?.n).toBe(3);
    expect(await store.get('q:b')).toBeUndefined();
    expect((await store.get('q:é'))?.n).toBe(2); // from disk
    expect(await db.get('q:a')).toBeUndefined(); // really not written yet
    const scanned: string[] = [];
    for await (const [key] of store.scan('q:')) scanned.push(key);
    expect(scanned).toEqual(['q:a', 'q:é', 'q:😀']);
  });

  it('a held write replaced before it is due costs one operation; settled() writes what is held', async () => {
    const { store, nextWrite } = await gatedStore();
    void store.put('out:1', record(1));
    (await nextWrite()).release();
    await store.settled();
    store.putLater('out:1', { ...record(1), messageId: 7 }); // the message id, recorded on delivery
    expect((await store.get('out:1'))?.messageId).toBe(7);
    void store.put('out:2', record(2)); // other traffic is written meanwhile, without the held write
    const other = await nextWrite();
    expect(other.ops).toEqual([{ type: 'put', key: 'out:2' }]);
    other.release();
    store.delLater('out:1'); // its PUBACK
    expect(await store.get('out:1')).toBeUndefined();
    const done = store.settled();
    const w = await nextWrite();
    expect(w.ops).toEqual([{ type: 'del', key: 'out:1' }]);
    w.release();
    await done;
  });

  it('each held write waits its own delay: one made just before an older one is due stays held', async () => {
    const { store, nextWrite } = await gatedStore();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      store.putLater('out:a', record(1));
      vi.advanceTimersByTime(LAZY_WRITE_DELAY_MS - 10);
      store.putLater('out:b', record(2)); // delivered later: its PUBACK may still come
      vi.advanceTimersByTime(10);
      const first = await nextWrite();
      expect(first.ops).toEqual([{ type: 'put', key: 'out:a' }]);
      first.release();
      store.delLater('out:b'); // the PUBACK came in time: one operation, not a put and a delete
      vi.advanceTimersByTime(LAZY_WRITE_DELAY_MS);
      const second = await nextWrite();
      expect(second.ops).toEqual([{ type: 'del', key: 'out:b' }]);
      second.release();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a later waited-for write to a key supersedes a held one', async () => {
    const { store, nextWrite } = await gatedStore();
    store.putLater('k', record(1));
    void store.put('k', record(2));
    const w = await nextWrite();
    w.release();
    await store.settled();
    expect(w.ops).toEqual([{ type: 'put', key: 'k' }]);
    expect((await store.get('k'))?.n).toBe(2);
  });

  it('a failed batch rejects its writers, reads answer from the database again, and the next batch is written', async () => {
    const { store, db, nextWrite } = await gatedStore();
    void store.put('k', record(1));
    (await nextWrite()).release();
    await store.settled();
    const failing = store.put('k', record(2));
    const alsoFailing = store.del('gone');
    const w = await nextWrite();
    w.release(new Error('disk full'));
    await expect(failing).rejects.toThrow('disk full');
    await expect(alsoFailing).rejects.toThrow('disk full');
    expect((await store.get('k'))?.n).toBe(1); // what the database holds
    const next = store.put('k', record(3));
    (await nextWrite()).release();
    await next;
    expect((await store.get('k'))?.n).toBe(3);
    expect(await db.get('k')).toBeDefined();
  });
});
