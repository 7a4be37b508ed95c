/**
 * Dead letters: unacked inbox messages that the webhook (daemon/http/webhook-delivery.ts) gave up
 * on after its retry budget. The message itself stays in the inbox (nothing is lost); this table
 * only remembers, durably, that the webhook stopped trying, so that after a restart it is not
 * retried for another hour before anyone hears of it, and so that `status` counts it.
 *
 *   deadLetter  key cursor  shown message id, sender, attempts, last error, first attempt, given up at
 *
 * A mark lives while its message is unacked: an ack deletes it in the ack's own batch (onAcked),
 * so no mark outlives its message, and marks of messages acked while the daemon was down are
 * dropped at start. A re-drive deletes marks (the webhook then delivers those messages again).
 * Callers serialise add/redrive with acks (the daemon's ack lock).
 */
import type { Logger } from 'pino';
import { Reader, Writer } from '../../core/bytes.ts';
import { DecodeError } from '../../core/errors.ts';
import { parseUserId } from '../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import type { Inbox } from './inbox.ts';
import { Transaction, type FatalHandler } from './transaction.ts';
import type { DeadLetter, DeadLetterInput } from './types.ts';

const V1 = 1;
/** Longest last-error text kept: a status line or an error code, not a response body. */
export const MAX_DEAD_LETTER_ERROR_LENGTH = 200;
/** Longest shown message id stored (inbox ids are 32 hex digits, plus `.cursor` when aliased). */
const MAX_SHOWN_ID = 64;

export function encodeDeadLetter(d: DeadLetter): Uint8Array {
  return new Writer()
    .u8(V1)
    .string16(d.messageId)
    .string16(d.from)
    .u32(d.attempts)
    .string16(d.lastError)
    .u64(d.firstAttemptAt)
    .u64(d.deadAt)
    .finish();
}

export function decodeDeadLetter(cursor: number, b: Uint8Array): DeadLetter {
  const r = new Reader(b, 'dead letter record');
  if (r.u8() !== V1) throw new DecodeError('dead letter record: unknown version', 'UnsupportedVersion');
  const d: DeadLetter = {
    messageId: r.string16(MAX_SHOWN_ID),
    from: parseUserId(r.string16(64)),
    cursor,
    attempts: r.u32(),
    lastError: r.string16(MAX_DEAD_LETTER_ERROR_LENGTH * 4),
    firstAttemptAt: r.u64(),
    deadAt: r.u64(),
  };
  r.end();
  return d;
}

export class DeadLetters {
  /** cursor → mark, for unacked messages only. */
  private readonly byCursor = new Map<number, DeadLetter>();

  constructor(
    private readonly store: Store,
    private readonly inbox: Inbox,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly fatal: FatalHandler,
  ) {}

  /** Reads the marks; drops those whose message was acked meanwhile (or whose record is corrupt). */
  async load(): Promise<void> {
    const stale = new Transaction();
    for await (const rec of this.store.iterate('deadLetter')) {
      if (!rec.ok) {
        this.log.error({ code: rec.error.code }, 'a dead letter record is corrupt; its message is offered to the webhook again');
        continue;
      }
      const d = decodeDeadLetter(parseCounterKey(rec.key), rec.value);
      if (this.inbox.cursorOf(d.messageId) === d.cursor) this.byCursor.set(d.cursor, d);
      else stale.del('deadLetter', rec.key);
    }
    if (stale.ops.length > 0) await stale.commit(this.store, this.fatal);
  }

  get size(): number {
    return this.byCursor.size;
  }

  /** Every mark, oldest message first. */
  list(): DeadLetter[] {
    return [...this.byCursor.values()].sort((a, b) => a.cursor - b.cursor);
  }

  /** Marks an unacked message; durable when it resolves. A message no longer unacked is ignored. */
  async add(messageId: string, from: DeadLetter['from'], info: DeadLetterInput): Promise<void> {
    const cursor = this.inbox.cursorOf(messageId);
    if (cursor === undefined) return;
    const d: DeadLetter = {
      messageId,
      from,
      cursor,
      attempts: info.attempts,
      lastError: info.lastError.slice(0, MAX_DEAD_LETTER_ERROR_LENGTH),
      firstAttemptAt: info.firstAttemptAt,
      deadAt: this.now(),
    };
    const tx = new Transaction().put('deadLetter', counterKey(cursor), encodeDeadLetter(d));
    tx.onApply(() => this.byCursor.set(cursor, d));
    await tx.commit(this.store, this.fatal);
  }

  /** Deletes the marks of these messages (every mark when the list is empty); returns the ids cleared. */
  async redrive(messageIds: readonly string[]): Promise<string[]> {
    const wanted = messageIds.length === 0 ? undefined : new Set(messageIds);
    const cleared = this.list().filter((d) => wanted === undefined || wanted.has(d.messageId));
    if (cleared.length === 0) return [];
    const tx = new Transaction();
    for (const d of cleared) tx.del('deadLetter', counterKey(d.cursor));
    tx.onApply(() => {
      for (const d of cleared) this.byCursor.delete(d.cursor);
    });
    await tx.commit(this.store, this.fatal);
    return cleared.map((d) => d.messageId);
  }

  /** Ack hook (inbox.onAcked): the marks of acked messages go in the ack's batch. */
  readonly release = (tx: Transaction, acked: ReadonlyMap<string, number>): void => {
    const gone: number[] = [];
    for (const cursor of acked.values()) {
      if (!this.byCursor.has(cursor)) continue;
      tx.del('deadLetter', counterKey(cursor));
      gone.push(cursor);
    }
    if (gone.length > 0) {
      tx.onApply(() => {
        for (const c of gone) this.byCursor.delete(c);
      });
    }
  };
}
