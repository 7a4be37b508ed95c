/**
 * A raw ordered key-value engine under the encrypted store: string keys, byte values, atomic
 * batches, range iteration. Implemented on LevelDB (level-backend.ts) and in memory (memory-backend.ts).
 * Nothing at this layer is encrypted; only encrypted-store.ts writes to it.
 */
export type RawOp =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: string };

/** Exactly one of gt / gte is set. */
export interface RawRange {
  readonly gt?: string;
  readonly gte?: string;
  readonly lt: string;
  readonly limit?: number;
  readonly reverse?: boolean;
}

export interface RawBatchOptions {
  /**
   * On stable storage (fsync) before the promise resolves, so the batch survives a power cut.
   * Without it a batch survives a crash of the process but maybe not of the machine.
   */
  readonly sync?: boolean;
}

export interface RawBackend {
  get(key: string): Promise<Uint8Array | undefined>;
  batch(ops: readonly RawOp[], options?: RawBatchOptions): Promise<void>;
  /** A consistent snapshot of the range, taken when iteration starts. */
  iterate(range: RawRange): AsyncIterable<readonly [string, Uint8Array]>;
  close(): Promise<void>;
}
