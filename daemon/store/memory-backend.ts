/**
 * In-memory RawBackend: a Map with sorted range scans. Survives `close()` + reopen through
 * `reopen()`, so tests can restart a daemon on "the same disk" without touching the file system.
 * A batch's `sync` means nothing here (no disk); power-cut-backend.ts models a disk that loses power.
 */
import type { RawBackend, RawOp, RawRange } from './backend.ts';
import { StoreError } from './store.ts';

export interface MemoryBackend extends RawBackend {
  /** A new handle on the same data (the previous handle may be closed). */
  reopen(): MemoryBackend;
  /** Direct access for tests (e.g. to corrupt a record). */
  readonly data: Map<string, Uint8Array>;
}

export function createMemoryBackend(data: Map<string, Uint8Array> = new Map()): MemoryBackend {
  let closed = false;
  const check = (): void => {
    if (closed) throw new StoreError('store is closed');
  };
  return {
    data,
    async get(key) {
      check();
      const v = data.get(key);
      return v === undefined ? undefined : v.slice();
    },
    async batch(ops: readonly RawOp[]) {
      check();
      // Apply synchronously: no other operation can observe half a batch.
      for (const op of ops) {
        if (op.type === 'put') data.set(op.key, op.value.slice());
        else data.delete(op.key);
      }
    },
    async *iterate(range: RawRange) {
      check();
      const above = (k: string): boolean =>
        range.gte !== undefined ? k >= range.gte : range.gt !== undefined ? k > range.gt : true;
      const keys = [...data.keys()].filter((k) => above(k) && k < range.lt).sort();
      if (range.reverse) keys.reverse();
      const limit = range.limit ?? Infinity;
      const snapshot = keys.slice(0, limit).map((k) => [k, data.get(k) as Uint8Array] as const);
      for (const [k, v] of snapshot) yield [k, v.slice()] as const;
    },
    async close() {
      closed = true;
    },
    reopen() {
      return createMemoryBackend(data);
    },
  };
}
