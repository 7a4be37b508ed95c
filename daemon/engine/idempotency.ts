/**
 * Idempotency records: a Send with an idempotency key returns the first call's message id and sends
 * nothing new. Two scopes, so that replies do not make the table grow with traffic:
 *
 * - Reply scope: the Send names (replyTo) an inbound message that is still unacked. Its record is
 *   kept in replyIdem under that message's cursor and deleted in the very batch that acks the
 *   message. A client retries a reply only until it acks the message it answers (the SDK acks after
 *   the handler, and so its replies, succeeded), so the record is never needed after the ack.
 * - Global scope: every other keyed Send, and a reply to a message that is no longer unacked. Kept
 *   at least `retentionMs` (default 7 days) and deleted by the next sweep after that; at most
 *   `maxRecords` are kept: the sweep deletes the oldest beyond that, and starts as soon as the table
 *   passes the bound. Sweeps also run at start and on the maintenance timer (hourly). idemOrder lists
 *   the keys in write order, so a sweep reads only what it deletes (plus one record).
 * The same key in a reply scope and globally are two different keys.
 *
 * Only the sweep deletes global records and a Send writes one only when its key has none (under the
 * key's lock), so the two never race on one key. Reply scopes race with acks: a scope is opened
 * (pinned) before the message's cursor is looked up, an ack marks the pins of the ids it acks while
 * its batch is built, and a reply whose message was acked meanwhile is recorded globally instead.
 */
import type { Logger } from 'pino';
import type { UserId } from '../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import type { Inbox } from './inbox.ts';
import {
  decodeIdemOrder,
  decodeIdempotency,
  decodeReplyIdempotency,
  encodeIdemOrder,
  encodeIdempotency,
  encodeReplyIdempotency,
} from './records.ts';
import { Transaction, type FatalHandler } from './transaction.ts';

/** How long a global idempotency record is kept at least: a client's retries span hours, not weeks. */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 7 * 24 * 3600_000;
/**
 * Global records kept at most (~150 bytes each on disk): a week of a keyed send every 6 s. Past
 * it the oldest are deleted, so a retry of those sends again.
 */
export const MAX_IDEMPOTENCY_RECORDS = 100_000;
/** Reply-scoped records per inbound message; further replies to it are recorded globally. */
export const MAX_REPLY_RECORDS_PER_MESSAGE = 8;
/** Records a sweep deletes per batch. */
const SWEEP_BATCH = 1_000;
/** The sweep starts as soon as the table holds this many more records than its bound. */
const SWEEP_SLACK = 1_000;
/** meta record: present once records written before idemOrder existed have been given a place in it. */
const META_KEY = 'idempotency';

export interface IdempotencyEntry {
  messageId: Uint8Array;
  to: UserId;
  requestHash: Uint8Array;
}

/** One Send's idempotency key, scoped; from open() to close(). */
export interface IdempotencyScope {
  readonly key: string;
  readonly replyTo: string | undefined;
  /** The answered message's cursor while it is unacked; undefined: global scope. */
  cursor: number | undefined;
  /** The answered message was acked after the scope was opened: record globally. */
  acked: boolean;
}

export interface IdempotencyOptions {
  retentionMs?: number;
  maxRecords?: number;
  fatal?: FatalHandler;
}

const replyKey = (cursor: number, n: number): string => `${counterKey(cursor)}:${n}`;

export class IdempotencyTable {
  /** idemOrder positions in use are [firstSeq, nextSeq). */
  private nextSeq = 1;
  private firstSeq = 1;
  /** Reply-scoped records per unacked inbound message (cursor → count, indices 0..count-1). */
  private readonly replyCounts = new Map<number, number>();
  /** Open reply scopes by the shown id they answer. */
  private readonly pins = new Map<string, Set<IdempotencyScope>>();
  private sweeping: Promise<number> | undefined;
  private readonly retentionMs: number;
  private readonly maxRecords: number;
  private readonly fatal: FatalHandler | undefined;

  constructor(
    private readonly store: Store,
    private readonly inbox: Pick<Inbox, 'cursorOf'>,
    private readonly log: Logger,
    private readonly now: () => number,
    options: IdempotencyOptions = {},
  ) {
    this.retentionMs = options.retentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS;
    this.maxRecords = options.maxRecords ?? MAX_IDEMPOTENCY_RECORDS;
    this.fatal = options.fatal;
  }

  /** Global records (an upper bound: positions in use). */
  get size(): number {
    return this.nextSeq - this.firstSeq;
  }

  /** Reply-scoped records (each deleted with the ack of its message). */
  get replyRecords(): number {
    let n = 0;
    for (const c of this.replyCounts.values()) n += c;
    return n;
  }

  async load(): Promise<void> {
    if ((await this.store.get('meta', META_KEY)) === undefined) await this.placeUnordered();
    for await (const rec of this.store.iterate('idemOrder', { limit: 1 })) if (rec.ok) this.firstSeq = parseCounterKey(rec.key);
    for await (const rec of this.store.iterate('idemOrder', { limit: 1, reverse: true })) if (rec.ok) this.nextSeq = parseCounterKey(rec.key) + 1;
    this.firstSeq = Math.min(this.firstSeq, this.nextSeq);
    await this.loadReplies();
  }

  /**
   * Records written before idemOrder existed (version 1, seq 0) get a place at its end, in the order
   * found; they are all older than now, so the first sweeps after their retention delete them.
   */
  private async placeUnordered(): Promise<void> {
    let seq = 1;
    for await (const rec of this.store.iterate('idemOrder', { limit: 1, reverse: true })) if (rec.ok) seq = parseCounterKey(rec.key) + 1;
    let tx = new Transaction();
    let placed = 0;
    for await (const rec of this.store.iterate('idempotency')) {
      if (!rec.ok) continue;
      const r = decodeIdempotency(rec.value);
      if (r.seq !== 0) continue;
      tx.put('idempotency', rec.key, encodeIdempotency({ ...r, seq }));
      tx.put('idemOrder', counterKey(seq), encodeIdemOrder(rec.key));
      seq += 1;
      placed += 1;
      if (tx.ops.length >= 2 * SWEEP_BATCH) {
        await tx.commit(this.store, this.fatal);
        tx = new Transaction();
      }
    }
    tx.put('meta', META_KEY, Uint8Array.of(1));
    await tx.commit(this.store, this.fatal);
    if (placed > 0) this.log.info({ records: placed }, 'idempotency records from an earlier version given a retention order');
  }

  /** Counts reply records per cursor; those of a message no longer in the inbox are deleted. */
  private async loadReplies(): Promise<void> {
    const keysByCursor = new Map<number, string[]>();
    for await (const rec of this.store.iterate('replyIdem')) {
      if (!rec.ok) continue;
      const cursor = parseCounterKey(rec.key.slice(0, rec.key.indexOf(':')));
      let keys = keysByCursor.get(cursor);
      if (keys === undefined) keysByCursor.set(cursor, (keys = []));
      keys.push(rec.key);
    }
    const orphans = new Transaction();
    for (const [cursor, keys] of keysByCursor) {
      if ((await this.store.get('inbox', counterKey(cursor))) !== undefined) this.replyCounts.set(cursor, keys.length);
      else for (const k of keys) orphans.del('replyIdem', k);
    }
    if (orphans.ops.length > 0) {
      await orphans.commit(this.store, this.fatal);
      this.log.info({ records: orphans.ops.length }, 'reply idempotency records of acked messages deleted');
    }
  }

  /** Opens the scope of one keyed Send; close() it when the Send is done. */
  async open(key: string, replyTo: string | undefined): Promise<IdempotencyScope> {
    const scope: IdempotencyScope = { key, replyTo, cursor: undefined, acked: false };
    if (replyTo === undefined) return scope;
    // Pinned before the lookup: an ack from now on marks it (see the top of this file).
    let pins = this.pins.get(replyTo);
    if (pins === undefined) this.pins.set(replyTo, (pins = new Set()));
    pins.add(scope);
    scope.cursor = await this.inbox.cursorOf(replyTo);
    return scope;
  }

  close(scope: IdempotencyScope): void {
    if (scope.replyTo === undefined) return;
    const pins = this.pins.get(scope.replyTo);
    pins?.delete(scope);
    if (pins?.size === 0) this.pins.delete(scope.replyTo);
  }

  private replyScoped(scope: IdempotencyScope): scope is IdempotencyScope & { cursor: number } {
    return scope.cursor !== undefined && !scope.acked;
  }

  /** The first Send's record for this key in its scope, if any. */
  async find(scope: IdempotencyScope): Promise<IdempotencyEntry | undefined> {
    if (this.replyScoped(scope)) {
      const count = this.replyCounts.get(scope.cursor) ?? 0;
      for (let n = 0; n < count; n++) {
        const stored = await this.store.get('replyIdem', replyKey(scope.cursor, n));
        if (stored === undefined) continue;
        const r = decodeReplyIdempotency(stored);
        if (r.key === scope.key) return r;
      }
      if (count < MAX_REPLY_RECORDS_PER_MESSAGE) return undefined;
    }
    const stored = await this.store.get('idempotency', scope.key);
    return stored === undefined ? undefined : decodeIdempotency(stored);
  }

  /** Adds the record of a Send to tx (call right before tx is staged, in the same synchronous run). */
  record(tx: Transaction, scope: IdempotencyScope, entry: IdempotencyEntry, at: number): void {
    if (this.replyScoped(scope)) {
      const cursor = scope.cursor;
      const count = this.replyCounts.get(cursor) ?? 0;
      if (count < MAX_REPLY_RECORDS_PER_MESSAGE) {
        tx.put('replyIdem', replyKey(cursor, count), encodeReplyIdempotency({ cursor, key: scope.key, ...entry, at }));
        this.replyCounts.set(cursor, count + 1);
        return;
      }
    }
    const seq = this.nextSeq++;
    tx.put('idempotency', scope.key, encodeIdempotency({ ...entry, at, seq }));
    tx.put('idemOrder', counterKey(seq), encodeIdemOrder(scope.key));
    if (this.size > this.maxRecords + SWEEP_SLACK) tx.onDurable(() => void this.sweep().catch((err: unknown) => this.log.warn({ err }, 'idempotency sweep failed')));
  }

  /** Called while an ack's batch is built: its messages' reply records go in the same batch. */
  readonly releaseReplies = (tx: Transaction, acked: ReadonlyMap<string, number>): void => {
    for (const [id, cursor] of acked) {
      for (const scope of this.pins.get(id) ?? []) scope.acked = true;
      const count = this.replyCounts.get(cursor);
      if (count === undefined) continue;
      for (let n = 0; n < count; n++) tx.del('replyIdem', replyKey(cursor, n));
      this.replyCounts.delete(cursor);
    }
  };

  /**
   * Deletes global records past their retention and, beyond maxRecords, the oldest. One sweep at a
   * time; resolves with the number deleted.
   */
  sweep(): Promise<number> {
    this.sweeping ??= this.runSweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async runSweep(): Promise<number> {
    let deleted = 0;
    let after: string | undefined;
    for (;;) {
      const now = this.now();
      const tx = new Transaction();
      let read = 0;
      let stop = false;
      let first = this.firstSeq;
      for await (const rec of this.store.iterate('idemOrder', { limit: SWEEP_BATCH, ...(after !== undefined ? { after } : {}) })) {
        read += 1;
        if (!rec.ok) continue;
        after = rec.key;
        const seq = parseCounterKey(rec.key);
        const key = decodeIdemOrder(rec.value);
        const stored = await this.store.get('idempotency', key).catch(() => undefined);
        const record = stored === undefined ? undefined : decodeIdempotency(stored);
        const live = record !== undefined && record.seq === seq;
        const overBound = this.nextSeq - first > this.maxRecords;
        if (live && now - record.at < this.retentionMs && !overBound) {
          stop = true;
          break;
        }
        tx.del('idemOrder', rec.key);
        if (live) tx.del('idempotency', key);
        first = seq + 1;
        if (live) deleted += 1;
      }
      if (tx.ops.length > 0) {
        const newFirst = first;
        tx.onApply(() => (this.firstSeq = Math.max(this.firstSeq, newFirst)));
        await tx.commit(this.store, this.fatal);
      }
      if (stop || read < SWEEP_BATCH) break;
    }
    if (deleted > 0) this.log.info({ deleted, kept: this.size }, 'idempotency records past their retention or the bound deleted');
    return deleted;
  }
}
