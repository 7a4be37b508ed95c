/**
 * Decrypted messages until the local client acks them.
 *
 * - Every stored message gets a cursor, strictly increasing and never reused (the next cursor is
 *   persisted in `meta!counters` in the same batch), so a client resuming "after cursor N" never
 *   misses a message.
 * - subscribe() replays the unacked messages after the cursor, then goes live; an event committed
 *   while the replay runs is buffered and de-duplicated by cursor.
 * - inboxById maps an unacked message's id to its cursor (for Ack by message id). Duplicates never
 *   reach the inbox: the transcript in the peer record, written in the same batch, drops them.
 * Callers serialise the transactions that add messages (the receive queue), so cursors commit in order.
 */
import type { Logger } from 'pino';
import type { DaemonEvent, InboundMessage } from './types.ts';
import { toHex } from '../../core/bytes.ts';
import type { UserId } from '../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import { decodeCounters, decodeInbox, decodeInboxId, encodeCounters, encodeInbox, encodeInboxId, type InboxRecord } from './records.ts';
import type { Transaction } from './transaction.ts';

const COUNTERS_KEY = 'counters';
/**
 * Unacked messages added by this process whose cursor is remembered (message id → cursor), so a
 * bot's Ack needs no store read. Past this many, the oldest are forgotten and looked up instead.
 */
const REMEMBERED_CURSORS = 16_384;

export interface NewInboundMessage {
  messageId: Uint8Array;
  from: UserId;
  body: Uint8Array;
  contentType: string;
  sentAt: number;
}

interface Subscriber {
  onEvent(e: DaemonEvent): void;
  lastCursor: number;
  replaying: boolean;
  buffer: DaemonEvent[];
  closed: boolean;
}

export function toInboundMessage(r: InboxRecord): InboundMessage {
  return {
    messageId: toHex(r.messageId),
    from: r.from,
    body: r.body,
    contentType: r.contentType,
    sentAt: r.sentAt,
    receivedAt: r.receivedAt,
    cursor: r.cursor,
  };
}

export class Inbox {
  private nextCursor = 1;
  private unacked = 0;
  private readonly subscribers = new Set<Subscriber>();
  /** See REMEMBERED_CURSORS. Exactly the unacked messages it names (kept in step by the hooks). */
  private readonly cursorById = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly rememberedCursors = REMEMBERED_CURSORS,
  ) {}

  async load(): Promise<void> {
    const counters = await this.store.get('meta', COUNTERS_KEY);
    if (counters !== undefined) this.nextCursor = Math.max(this.nextCursor, decodeCounters(counters).nextCursor);
    let count = 0;
    for await (const rec of this.store.iterate('inbox')) {
      count += 1;
      if (rec.ok) this.nextCursor = Math.max(this.nextCursor, parseCounterKey(rec.key) + 1);
      else this.log.error({ code: rec.error.code }, 'an inbox record is corrupt; it is skipped');
    }
    this.unacked = count;
  }

  get depth(): number {
    return this.unacked;
  }

  /** Adds the messages to tx (cursors allocated now); they are announced to subscribers on commit. */
  add(tx: Transaction, messages: readonly NewInboundMessage[], receivedAt: number): InboundMessage[] {
    const out: InboundMessage[] = [];
    for (const m of messages) {
      const rec: InboxRecord = { cursor: this.nextCursor++, receivedAt, ...m };
      const key = counterKey(rec.cursor);
      const message = toInboundMessage(rec);
      tx.put('inbox', key, encodeInbox(rec));
      tx.put('inboxById', message.messageId, encodeInboxId({ cursor: rec.cursor, at: receivedAt }));
      out.push(message);
    }
    if (out.length > 0) {
      tx.put('meta', COUNTERS_KEY, encodeCounters({ nextCursor: this.nextCursor }));
      tx.onApply(() => {
        this.unacked += out.length;
        for (const m of out) this.rememberCursor(m.messageId, m.cursor);
      });
      tx.onDurable(() => {
        for (const message of out) this.publish({ kind: 'message', message });
      });
    }
    return out;
  }

  /** Fans an event out to subscribers (buffered for those still replaying). */
  publish(event: DaemonEvent): void {
    for (const s of this.subscribers) {
      if (s.replaying) s.buffer.push(event);
      else this.deliver(s, event);
    }
  }

  private deliver(s: Subscriber, event: DaemonEvent): void {
    if (s.closed) return;
    if (event.kind === 'message') {
      if (event.message.cursor <= s.lastCursor) return;
      s.lastCursor = event.message.cursor;
    }
    try {
      s.onEvent(event);
    } catch (err) {
      this.log.error({ err }, 'subscriber threw');
    }
  }

  /** Replays unacked messages with cursor > afterCursor, then live events. */
  async subscribe(afterCursor: number, onEvent: (e: DaemonEvent) => void, extraReplay: readonly DaemonEvent[] = []): Promise<() => void> {
    const s: Subscriber = { onEvent, lastCursor: Math.max(0, afterCursor), replaying: true, buffer: [], closed: false };
    this.subscribers.add(s);
    try {
      for await (const rec of this.store.iterate('inbox', { after: counterKey(s.lastCursor) })) {
        if (s.closed) break;
        if (!rec.ok) {
          this.log.error({ code: rec.error.code }, 'an inbox record is corrupt; skipped in replay');
          continue;
        }
        this.deliver(s, { kind: 'message', message: toInboundMessage(decodeInbox(rec.value)) });
      }
      for (const e of extraReplay) this.deliver(s, e);
    } finally {
      s.replaying = false;
      for (const e of s.buffer.splice(0)) this.deliver(s, e);
    }
    return () => {
      s.closed = true;
      this.subscribers.delete(s);
    };
  }

  private rememberCursor(messageId: string, cursor: number): void {
    if (this.cursorById.size >= this.rememberedCursors) this.cursorById.delete(this.cursorById.keys().next().value!);
    this.cursorById.set(messageId, cursor);
  }

  /** The cursor of an unacked message, or undefined if there is none with this id. */
  private async cursorOf(messageId: string): Promise<number | undefined> {
    const remembered = this.cursorById.get(messageId);
    if (remembered !== undefined) return remembered;
    const stored = await this.store.get('inboxById', messageId);
    return stored === undefined ? undefined : decodeInboxId(stored).cursor;
  }

  /** Deletes acked messages; unknown or already acked ids are ignored. Callers serialise acks. */
  async ack(tx: Transaction, messageIds: readonly string[]): Promise<number> {
    const acked: string[] = [];
    const seenInCall = new Set<string>();
    for (const id of messageIds) {
      if (seenInCall.has(id)) continue;
      seenInCall.add(id);
      const cursor = await this.cursorOf(id);
      if (cursor === undefined) continue;
      tx.del('inbox', counterKey(cursor));
      tx.del('inboxById', id);
      acked.push(id);
    }
    tx.onApply(() => {
      this.unacked = Math.max(0, this.unacked - acked.length);
      for (const id of acked) this.cursorById.delete(id);
    });
    return acked.length;
  }
}
