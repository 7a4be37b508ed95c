/**
 * Test support (not a test file): an in-memory RawBackend with a disk that can lose power. Like
 * LevelDB's write-ahead log, every batch is applied at once (readers see it) but reaches stable
 * storage only when a batch is written with `sync`, which makes it and every batch before it durable
 * (an fsync of the log). `powerCut()` drops everything not yet durable and kills every open handle
 * (the process died with the machine); `reopen()` then starts on what the disk kept.
 * A synced batch takes a macrotask (the fsync's latency), so group commit has something to group.
 */
import type { RawBackend, RawBatchOptions, RawOp } from './backend.ts';
import { createMemoryBackend, type MemoryBackend } from './memory-backend.ts';
import { StoreError } from './store.ts';

export interface PowerCutDisk {
  /** A new handle on the disk as the OS sees it (applied batches, durable or not). */
  reopen(): RawBackend;
  /** Drops every batch written since the last synced one; every open handle fails from now on. */
  powerCut(): void;
  /** Synced batches so far (one per fsync). */
  readonly syncs: number;
  /** Batches so far. */
  readonly batches: number;
}

export function createPowerCutDisk(): PowerCutDisk {
  /** What survives a power cut. */
  let durable = new Map<string, Uint8Array>();
  /** What readers see: durable plus the unsynced batches. */
  let visible = new Map<string, Uint8Array>();
  let unsynced: RawOp[][] = [];
  /** Bumped at each power cut: handles of an earlier epoch are dead. */
  let epoch = 0;
  let syncs = 0;
  let batches = 0;

  const apply = (into: Map<string, Uint8Array>, ops: readonly RawOp[]): void => {
    for (const op of ops) {
      if (op.type === 'put') into.set(op.key, op.value.slice());
      else into.delete(op.key);
    }
  };

  const open = (): RawBackend => {
    const mine = epoch;
    const alive = (): void => {
      if (epoch !== mine) throw new StoreError('the machine lost power');
    };
    // Reads through a memory backend over the visible map (it is replaced at a power cut).
    const reader = (): MemoryBackend => createMemoryBackend(visible);
    let closed = false;
    const check = (): void => {
      alive();
      if (closed) throw new StoreError('store is closed');
    };
    return {
      async get(key) {
        check();
        return reader().get(key);
      },
      async batch(ops: readonly RawOp[], options: RawBatchOptions = {}) {
        check();
        batches += 1;
        apply(visible, ops);
        unsynced.push(ops.map((op) => (op.type === 'put' ? { ...op, value: op.value.slice() } : op)));
        if (options.sync !== true) return;
        await new Promise<void>((resolve) => setImmediate(resolve));
        alive(); // the power went during the fsync: not durable, and the caller hears of it
        for (const b of unsynced) apply(durable, b);
        unsynced = [];
        syncs += 1;
      },
      async *iterate(range) {
        check();
        yield* reader().iterate(range);
      },
      async close() {
        closed = true;
      },
    };
  };

  return {
    reopen: open,
    powerCut() {
      epoch += 1;
      unsynced = [];
      visible = new Map([...durable].map(([k, v]) => [k, v.slice()]));
    },
    get syncs() {
      return syncs;
    },
    get batches() {
      return batches;
    },
  };
}
