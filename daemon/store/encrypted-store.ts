/**
 * The Store over any RawBackend: every value sealed by the RecordCipher, blinded kinds keyed by a
 * keyed hash, batches passed through atomically. Use openStore (schema.ts) rather than this directly.
 */
import type { RawBackend, RawBatchOptions, RawOp, RawRange } from './backend.ts';
import { isRecordKind, KEY_SEPARATOR, kindRange, RECORD_KINDS, type RecordKind } from './kinds.ts';
import type { RecordCipher } from './record-cipher.ts';
import { CorruptRecordError, StoreError, type BatchOp, type IterateOptions, type IteratedRecord, type Store } from './store.ts';

/** Every store batch precedes something observable (an ack, a receipt, a Send result): synced. */
const DURABLE: RawBatchOptions = { sync: true };

/** Highest code point: `${base}${prefix}\uffff` bounds every key that starts with prefix. */
const MAX_CHAR = '\uffff';

export function createEncryptedStore(backend: RawBackend, cipher: RecordCipher, schemaVersion: number): Store {
  let closed = false;
  const check = (): void => {
    if (closed) throw new StoreError('store is closed');
  };

  /** An op with its physical key; sealed only when its group is written (and only if not superseded). */
  type PlannedOp = { readonly type: 'put'; readonly kind: RecordKind; readonly key: string; readonly pk: string; readonly value: Uint8Array } | { readonly type: 'del'; readonly pk: string };

  const plan = (op: BatchOp): PlannedOp => {
    if (!isRecordKind(op.kind)) throw new StoreError('unknown record kind');
    const pk = cipher.physicalKey(op.kind, op.key);
    return op.type === 'put' ? { type: 'put', kind: op.kind, key: op.key, pk, value: op.value } : { type: 'del', pk };
  };

  /**
   * The raw ops of one backend batch: for each physical key only the last op (the batch is atomic,
   * so earlier writes of a key in it are never visible). At a hundred messages in flight a group
   * holds several writes of the same peer record; each superseded one would cost a seal.
   */
  const sealLatest = (ops: readonly PlannedOp[]): RawOp[] => {
    const seen = new Set<string>();
    const raw: RawOp[] = [];
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i]!;
      if (seen.has(op.pk)) continue;
      seen.add(op.pk);
      raw.push(op.type === 'put' ? { type: 'put', key: op.pk, value: cipher.seal(op.kind, op.pk, op.key, op.value) } : { type: 'del', key: op.pk });
    }
    return raw.reverse();
  };

  const get = async (kind: RecordKind, key: string): Promise<Uint8Array | undefined> => {
    check();
    const pk = cipher.physicalKey(kind, key);
    const stored = await backend.get(pk);
    if (stored === undefined) return undefined;
    const rec = cipher.open(kind, pk, stored);
    if (rec.key !== key) throw new CorruptRecordError(kind, 'key mismatch');
    return rec.value;
  };

  // Group commit: batches submitted while a write is in flight are written together next, as one
  // synced backend batch (one fsync for the whole group), in submission order. Each caller's ops stay
  // atomic (all of a call are in the same backend batch); a call resolves only once its group is on
  // stable storage, so whatever the engine acknowledges after it survives a power cut; a failed write
  // fails every call in it.
  interface Pending {
    ops: PlannedOp[];
    resolve(): void;
    reject(e: unknown): void;
  }
  let queue: Pending[] = [];
  let writing: Promise<void> | null = null;
  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      try {
        await backend.batch(sealLatest(group.length === 1 ? group[0]!.ops : group.flatMap((g) => g.ops)), DURABLE);
        for (const g of group) g.resolve();
      } catch (e) {
        for (const g of group) g.reject(e);
      }
    }
    writing = null;
  };
  const batch = (ops: readonly BatchOp[]): Promise<void> => {
    try {
      check();
      // Check everything first: a failure here writes nothing.
      const planned = ops.map(plan);
      if (planned.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ ops: planned, resolve, reject });
        if (writing === null) writing = drain();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  };

  async function* iterate(kind: RecordKind, options: IterateOptions = {}): AsyncGenerator<IteratedRecord> {
    check();
    const spec = RECORD_KINDS[kind];
    if (spec.blinded && (options.prefix !== undefined || options.after !== undefined)) {
      throw new StoreError(`${kind} records are blinded: no prefix or range iteration`);
    }
    const whole = kindRange(kind);
    const base = spec.prefix + KEY_SEPARATOR;
    let range: RawRange = whole;
    if (options.prefix !== undefined) range = { gte: base + options.prefix, lt: base + options.prefix + MAX_CHAR };
    if (options.after !== undefined) {
      const gt = base + options.after;
      const lower = range.gte ?? range.gt ?? '';
      if (gt >= lower) range = { gt, lt: range.lt };
    }
    if (options.limit !== undefined || options.reverse !== undefined) {
      range = { ...range, ...(options.limit !== undefined ? { limit: options.limit } : {}), reverse: options.reverse ?? false };
    }
    for await (const [pk, stored] of backend.iterate(range)) {
      try {
        const { key, value } = cipher.open(kind, pk, stored);
        if (!spec.blinded && base + key !== pk) throw new CorruptRecordError(kind, 'key mismatch');
        yield { ok: true, key, value };
      } catch (e) {
        if (!(e instanceof CorruptRecordError)) throw e;
        yield { ok: false, error: e };
      }
    }
  }

  return {
    schemaVersion,
    get,
    put: (kind, key, value) => batch([{ type: 'put', kind, key, value }]),
    del: (kind, key) => batch([{ type: 'del', kind, key }]),
    batch,
    iterate,
    async close() {
      if (closed) return;
      closed = true;
      await writing; // batches already accepted are sealed and written before the keys are zeroed
      cipher.destroy();
      await backend.close();
    },
  };
}
