/**
 * One state transition = one atomic store batch, plus the in-memory updates (caches, indexes,
 * events) that may happen only once the batch is on disk. Modules add ops and after-commit hooks;
 * the caller commits once.
 */
import type { RecordKind } from '../store/kinds.ts';
import type { BatchOp, Store } from '../store/store.ts';

export class Transaction {
  readonly ops: BatchOp[] = [];
  private readonly hooks: Array<() => void> = [];
  private committed = false;

  put(kind: RecordKind, key: string, value: Uint8Array): this {
    this.ops.push({ type: 'put', kind, key, value });
    return this;
  }

  del(kind: RecordKind, key: string): this {
    this.ops.push({ type: 'del', kind, key });
    return this;
  }

  /** Runs after a successful commit, in the order added. Hooks must not throw. */
  onCommit(hook: () => void): this {
    this.hooks.push(hook);
    return this;
  }

  get empty(): boolean {
    return this.ops.length === 0 && this.hooks.length === 0;
  }

  async commit(store: Store): Promise<void> {
    if (this.committed) throw new Error('transaction committed twice');
    this.committed = true;
    if (this.ops.length > 0) await store.batch(this.ops);
    for (const hook of this.hooks) hook();
  }
}
