/**
 * The Store over any RawBackend: every value sealed by the RecordCipher, blinded kinds keyed by a
 * keyed hash, batches passed through atomically. Use openStore (schema.ts) rather than this directly.
 */
import type { RawBackend, RawOp, RawRange } from './backend.ts';
import { isRecordKind, KEY_SEPARATOR, kindRange, RECORD_KINDS, type RecordKind } from './kinds.ts';
import type { RecordCipher } from './record-cipher.ts';
import { CorruptRecordError, StoreError, type BatchOp, type IterateOptions, type IteratedRecord, type Store } from './store.ts';

/** Highest code point: `${base}${prefix}\uffff` bounds every key that starts with prefix. */
const MAX_CHAR = '\uffff';

export function createEncryptedStore(backend: RawBackend, cipher: RecordCipher, schemaVersion: number): Store {
  let closed = false;
  const check = (): void => {
    if (closed) throw new StoreError('store is closed');
  };

  const toRaw = (op: BatchOp): RawOp => {
    if (!isRecordKind(op.kind)) throw new StoreError('unknown record kind');
    const pk = cipher.physicalKey(op.kind, op.key);
    return op.type === 'put' ? { type: 'put', key: pk, value: cipher.seal(op.kind, pk, op.key, op.value) } : { type: 'del', key: pk };
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
  // backend batch, in submission order. Each caller's ops stay atomic (all of a call are in the same
  // backend batch); a failed write fails every call in it.
  interface Pending {
    raw: RawOp[];
    resolve(): void;
    reject(e: unknown): void;
  }
  let queue: Pending[] = [];
  let writing = false;
  const drain = async (): Promise<void> => {
    writing = true;
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      try {
        await backend.batch(group.length === 1 ? group[0]!.raw : group.flatMap((g) => g.raw));
        for (const g of group) g.resolve();
      } catch (e) {
        for (const g of group) g.reject(e);
      }
    }
    writing = false;
  };
  const batch = (ops: readonly BatchOp[]): Promise<void> => {
    try {
      check();
      // Seal everything first: a failure here writes nothing.
      const raw = ops.map(toRaw);
      if (raw.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ raw, resolve, reject });
        if (!writing) void drain();
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
      cipher.destroy();
      await backend.close();
    },
  };
}
