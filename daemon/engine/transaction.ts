/**
 * One state transition = one atomic store batch, plus the in-memory updates that go with it.
 *
 * Two kinds of hooks:
 *  - onApply: cache and index updates. They run as soon as the batch is queued (stage), so the next
 *    operation on the same peer can build on this one while the write is in flight (the store
 *    writes queued batches in order, grouped: store/encrypted-store.ts).
 *  - onDurable: what others may observe — events to API clients, publishes, acks, timers. They run
 *    only once the batch is on disk.
 * A failed write leaves caches ahead of the disk: the engine treats it as fatal (it stops using the
 * relay, so nothing is acked or published on the strength of it; a restart reloads from disk).
 */
import type { RecordKind } from '../store/kinds.ts';
import type { BatchOp, Store } from '../store/store.ts';

/** Called when a staged batch fails to reach the disk. */
export type FatalHandler = (err: unknown) => void;

export class Transaction {
  readonly ops: BatchOp[] = [];
  private readonly applyHooks: Array<() => void> = [];
  private readonly durableHooks: Array<() => void> = [];
  private staged = false;

  put(kind: RecordKind, key: string, value: Uint8Array): this {
    this.ops.push({ type: 'put', kind, key, value });
    return this;
  }

  del(kind: RecordKind, key: string): this {
    this.ops.push({ type: 'del', kind, key });
    return this;
  }

  /** Cache/index update, run when the batch is queued. Must not throw. */
  onApply(hook: () => void): this {
    this.applyHooks.push(hook);
    return this;
  }

  /** Observable effect, run once the batch is on disk. Must not throw. */
  onDurable(hook: () => void): this {
    this.durableHooks.push(hook);
    return this;
  }

  /**
   * Queues the batch and applies the cache updates now; returns the promise of durability (the
   * durable hooks have run when it resolves). A failed write is reported to `fatal` too.
   */
  stage(store: Store, fatal?: FatalHandler): Promise<void> {
    if (this.staged) throw new Error('transaction staged twice');
    this.staged = true;
    const written = this.ops.length > 0 ? store.batch(this.ops) : Promise.resolve();
    for (const hook of this.applyHooks) hook();
    return written.then(
      () => {
        for (const hook of this.durableHooks) hook();
      },
      (err: unknown) => {
        fatal?.(err);
        throw err;
      },
    );
  }

  /** stage + wait for durability. */
  commit(store: Store, fatal?: FatalHandler): Promise<void> {
    return this.stage(store, fatal);
  }
}
