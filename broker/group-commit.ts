/**
 * Group commit over LevelDB, with reads that see every write at once.
 *
 * Writes (put, del) go into a pending batch; one LevelDB batch is in flight at a time, and whatever
 * arrives meanwhile becomes the next single batch (a later write to the same key replaces the
 * earlier one in the batch). Each write's promise settles when its batch is written: batches are
 * written in order, and writes of one batch settle in call order, so completions keep call order.
 * A batch is atomic in LevelDB, so after a crash the database holds the writes of a prefix of the
 * batches — never half of one.
 *
 * Writes nobody waits for (putLater, delLater) are held for LAZY_WRITE_DELAY_MS each (counted from
 * their own last write, not from the oldest held one), so one that is soon replaced costs nothing; a
 * waited-for write to the same key replaces a held one.
 *
 * Reads look, in order, at the held writes, the pending batch, the batch in flight, a cache of
 * records recently written (RECENT_RECORD_CACHE_BYTES), and only then the database, so they always
 * return the latest write. Scans merge the writes not yet on disk into a LevelDB range iteration.
 *
 * A failed batch rejects its writers and is forgotten: reads fall back to what the database holds
 * (what a restart would see), and the next batch goes on.
 */
import type { Level } from 'level';
import { decodeRecord, encodeRecord, prefixRange } from './level-layout.ts';
import type { StoredRecord } from './level-layout.ts';

/**
 * Bytes of recently written records kept for reads after their batch is written (the in-flight
 * message Aedes reads back on delivery and PUBACK); about 16,000 records of a 1 KiB envelope.
 */
export const RECENT_RECORD_CACHE_BYTES = 16 * 1024 * 1024;
/**
 * How long a write nobody waits for (putLater, delLater) is held before it joins a batch: long
 * enough for a subscriber's PUBACK to arrive, so "record the message id" and "delete the packet"
 * become one LevelDB operation. A crash loses at most this much of such writes (packets delivered
 * again, which receivers drop as duplicates). A daemon PUBACKs an envelope once it is stored, up to
 * a window of file chunks later: at 50 ms (and with every held write released when the oldest was
 * due) 1.8 of every 64 KiB chunk was written twice, raw mqtt.js traffic too; at 250 ms counted per
 * write, 1.1 and 1.0 (bench:file, 64 MiB).
 */
export const LAZY_WRITE_DELAY_MS = 250;
/** Held writes past this many join the next batch at once (bounds memory under a flood). */
const LAZY_WRITE_MAX = 20_000;
/** Estimated bytes of a cached record beyond its payload (key, fields, map entry). */
const RECORD_OVERHEAD_BYTES = 256;

const DELETED = Symbol('deleted');
type Write = StoredRecord | typeof DELETED;
/** peek(): not decided by memory; the database has to be read. */
const MISS = Symbol('miss');

interface Batch {
  readonly writes: Map<string, Write>;
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined); // a writer that does not wait must not leave an unhandled rejection
  return { writes: new Map(), done, resolve, reject };
}

function recordBytes(record: StoredRecord): number {
  const payload = record.payload;
  return RECORD_OVERHEAD_BYTES + (payload instanceof Uint8Array ? payload.byteLength : 0);
}

/** LevelDB orders keys by their UTF-8 bytes (JavaScript compares UTF-16 code units). */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Recently written records, oldest evicted first past the byte budget. */
class RecentRecords {
  private readonly records = new Map<string, { record: StoredRecord; bytes: number }>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  get(key: string): StoredRecord | undefined {
    return this.records.get(key)?.record;
  }

  set(key: string, record: StoredRecord): void {
    this.delete(key);
    const bytes = recordBytes(record);
    if (bytes > this.budget) return;
    this.records.set(key, { record, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.records) {
      if (this.bytes <= this.budget) break;
      this.records.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  delete(key: string): void {
    const entry = this.records.get(key);
    if (entry === undefined) return;
    this.records.delete(key);
    this.bytes -= entry.bytes;
  }
}

export interface GroupCommitOptions {
  /** fsync every batch (survives a power cut) or not (survives a crash of the process). */
  readonly sync: boolean;
  readonly cacheBytes?: number;
  /** Told about every failed batch (its writers are rejected as well). */
  readonly onWriteError?: (err: unknown) => void;
}

export class GroupCommitStore {
  private pending: Batch | null = null;
  private inflight: Batch | null = null;
  /** Held writes (putLater, delLater), newer than pending and in-flight writes of the same key. */
  private lazy = new Map<string, Write>();
  /** When each held write was last made (performance.now()), oldest first. */
  private lazyAt = new Map<string, number>();
  private lazyTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private closed = false;
  private readonly cache: RecentRecords;

  /** `db`: opened with `{ valueEncoding: 'buffer' }`. */
  constructor(
    private readonly db: Level<string, string>,
    private readonly opts: GroupCommitOptions,
  ) {
    this.cache = new RecentRecords(opts.cacheBytes ?? RECENT_RECORD_CACHE_BYTES);
  }

  /** Stores `record` under `key`; resolves once written. The caller must not change `record` afterwards. */
  put(key: string, record: StoredRecord): Promise<void> {
    const done = this.write(key, record);
    this.cache.set(key, record);
    return done;
  }

  /** Deletes `key`; resolves once written. */
  del(key: string): Promise<void> {
    const done = this.write(key, DELETED);
    this.cache.delete(key);
    return done;
  }

  /** put() for a write nobody waits for: held up to LAZY_WRITE_DELAY_MS (a later write replaces it). */
  putLater(key: string, record: StoredRecord): void {
    this.hold(key, record);
    this.cache.set(key, record);
  }

  delLater(key: string): void {
    this.hold(key, DELETED);
    this.cache.delete(key);
  }

  /** The latest record under `key` if memory knows it (undefined: deleted), else MISS. Shared: do not change it. */
  private peek(key: string): Readonly<StoredRecord> | undefined | typeof MISS {
    const w = this.lazy.get(key) ?? this.pending?.writes.get(key) ?? this.inflight?.writes.get(key) ?? this.cache.get(key);
    if (w === undefined) return MISS;
    return w === DELETED ? undefined : w;
  }

  /** The latest record under `key`, or undefined: the caller's own copy. */
  async get(key: string): Promise<StoredRecord | undefined> {
    const record = await this.getShared(key);
    return record === undefined ? undefined : { ...record };
  }

  /** get() without the copy: the caller only reads it. */
  async getShared(key: string): Promise<Readonly<StoredRecord> | undefined> {
    const known = this.peek(key);
    if (known !== MISS) return known;
    const blob = await this.db.get<string, Buffer>(key, { valueEncoding: 'buffer' });
    // A write may have landed while the database was read: it is the newer one.
    const raced = this.peek(key);
    if (raced !== MISS) return raced;
    return blob === undefined ? undefined : decodeRecord(blob);
  }

  /** Every [key, record] under `prefix` (ending in ':'), in key order, writes not yet on disk included. */
  async *scan(prefix: string): AsyncGenerator<[string, StoredRecord]> {
    const range = prefixRange(prefix);
    const overlay = new Map<string, Write>();
    for (const writes of [this.inflight?.writes, this.pending?.writes, this.lazy]) {
      if (writes === undefined) continue;
      for (const [key, w] of writes) if (key.startsWith(prefix)) overlay.set(key, w);
    }
    const unwritten = [...overlay.entries()].sort(([a], [b]) => compareKeys(a, b));
    let i = 0;
    for await (const [key, blob] of this.db.iterator<string, Buffer>({ ...range, valueEncoding: 'buffer' })) {
      for (; i < unwritten.length && compareKeys((unwritten[i] as [string, Write])[0], key) < 0; i++) {
        const [k, w] = unwritten[i] as [string, Write];
        if (w !== DELETED) yield [k, { ...w }];
      }
      const next = unwritten[i];
      if (next !== undefined && next[0] === key) {
        i++;
        if (next[1] !== DELETED) yield [key, { ...next[1] }];
        continue;
      }
      yield [key, decodeRecord(blob)];
    }
    for (; i < unwritten.length; i++) {
      const [k, w] = unwritten[i] as [string, Write];
      if (w !== DELETED) yield [k, { ...w }];
    }
  }

  /** Resolves when every write made so far, held ones included, is written (or failed). */
  async settled(): Promise<void> {
    this.releaseHeld();
    const last = this.pending ?? this.inflight;
    if (last !== null) await last.done.catch(() => undefined);
  }

  /** Writes what is pending, then closes the database. */
  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    await this.db.close();
  }

  private write(key: string, w: Write): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the broker database is closed'));
    this.lazy.delete(key); // this write is newer
    this.lazyAt.delete(key);
    if (this.pending === null) this.pending = newBatch();
    const batch = this.pending;
    batch.writes.set(key, w);
    this.schedule();
    return batch.done;
  }

  private hold(key: string, w: Write): void {
    if (this.closed) return;
    this.lazy.set(key, w);
    this.lazyAt.delete(key); // to the end: the newest
    this.lazyAt.set(key, performance.now());
    if (this.lazy.size >= LAZY_WRITE_MAX) this.releaseHeld();
    else this.lazyTimer ??= setTimeout(() => this.releaseAged(), LAZY_WRITE_DELAY_MS);
  }

  /** Held writes made LAZY_WRITE_DELAY_MS ago or more join the pending batch; the timer waits for the next one's turn. */
  private releaseAged(): void {
    this.lazyTimer = null;
    const now = performance.now();
    let released = false;
    for (const [key, at] of this.lazyAt) {
      const wait = at + LAZY_WRITE_DELAY_MS - now;
      if (wait > 0) {
        this.lazyTimer = setTimeout(() => this.releaseAged(), wait);
        break;
      }
      this.lazyAt.delete(key);
      const w = this.lazy.get(key) as Write;
      this.lazy.delete(key);
      (this.pending ??= newBatch()).writes.set(key, w);
      released = true;
    }
    if (released) this.schedule();
  }

  /** Every held write joins the pending batch. */
  private releaseHeld(): void {
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    if (this.lazy.size === 0) return;
    const held = this.lazy;
    this.lazy = new Map();
    this.lazyAt = new Map();
    if (this.pending === null) this.pending = newBatch();
    for (const [key, w] of held) this.pending.writes.set(key, w);
    this.schedule();
  }

  /**
   * Idle: the first write waits for the end of the current event-loop turn, so everything the turn
   * produces (a socket read of 100 PUBLISHes) goes in one batch. Busy: the next batch starts as soon
   * as the one in flight is written.
   */
  private schedule(): void {
    if (this.scheduled || this.inflight !== null) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const batch = this.pending;
    if (batch === null || this.inflight !== null) return;
    this.pending = null;
    this.inflight = batch;
    let written: Promise<void>;
    try {
      // A chained batch, values in the database's default encoding: abstract-level's array batch()
      // and per-operation options cost several times the JavaScript per operation.
      const chained = this.db.batch();
      const encoded = new Map<StoredRecord, Buffer>(); // one record stored under two keys is encoded once
      for (const [key, w] of batch.writes) {
        if (w === DELETED) {
          chained.del(key);
          continue;
        }
        let value = encoded.get(w);
        if (value === undefined) encoded.set(w, (value = encodeRecord(w)));
        chained.put(key, value as unknown as string);
      }
      written = chained.write({ sync: this.opts.sync } as never);
    } catch (err) {
      written = Promise.reject(err);
    }
    written.then(
      () => {
        this.inflight = null;
        batch.resolve();
        this.flush();
      },
      (err: unknown) => {
        this.inflight = null;
        // Forget the failed writes: reads answer from the database again, as a restart would.
        for (const key of batch.writes.keys()) if (!this.pending?.writes.has(key)) this.cache.delete(key);
        batch.reject(err);
        this.opts.onWriteError?.(err);
        this.flush();
      },
    );
  }
}
