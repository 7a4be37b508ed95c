/**
 * Decrypted messages until the local client acks them (ARCHITECTURE.md step 5).
 *
 * - Every stored message gets a cursor, strictly increasing and never reused (the next cursor is
 *   persisted in `meta!counters` in the same batch), so a client resuming "after cursor N" never
 *   misses a message.
 * - subscribe() replays the unacked messages after the cursor, then goes live; an event committed
 *   while the replay runs is buffered and de-duplicated by cursor.
 * - inboxById maps a message id to its cursor; after the ack it stays (cursor 0) for
 *   ACKED_ID_RETENTION_MS, so a retransmitted copy is recognised and not delivered again.
 * Callers serialise the transactions that add messages (the receive queue), so cursors commit in order.
 */
import type { Logger } from 'pino';
import type { DaemonEvent, InboundMessage } from '../api/backend.ts';
import { toHex } from '../protocol/bytes.ts';
import type { UserId } from '../protocol/user-id.ts';
import { counterKey, parseCounterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import { decodeCounters, decodeInbox, decodeInboxId, encodeCounters, encodeInbox, encodeInboxId, type InboxRecord } from './records.ts';
import type { Transaction } from './transaction.ts';

/** How long the id of an acked message is remembered, to drop late retransmissions of it. */
export const ACKED_ID_RETENTION_MS = 30 * 24 * 3600 * 1000;
const COUNTERS_KEY = 'counters';

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

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
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

  /** Whether a message with this id was already stored (unacked or acked recently). */
  async seen(messageId: Uint8Array): Promise<boolean> {
    return (await this.store.get('inboxById', toHex(messageId))) !== undefined;
  }

  /** Adds the messages to tx (cursors allocated now); they are announced to subscribers on commit. */
  add(tx: Transaction, messages: readonly NewInboundMessage[], receivedAt: number): InboundMessage[] {
    const out: InboundMessage[] = [];
    for (const m of messages) {
      const rec: InboxRecord = { cursor: this.nextCursor++, receivedAt, ...m };
      const key = counterKey(rec.cursor);
      tx.put('inbox', key, encodeInbox(rec));
      tx.put('inboxById', toHex(m.messageId), encodeInboxId({ cursor: rec.cursor, at: receivedAt }));
      out.push(toInboundMessage(rec));
    }
    if (out.length > 0) {
      tx.put('meta', COUNTERS_KEY, encodeCounters({ nextCursor: this.nextCursor }));
      tx.onCommit(() => {
        this.unacked += out.length;
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

  /** Deletes acked messages; unknown or already acked ids are ignored. */
  async ack(tx: Transaction, messageIds: readonly string[], now: number): Promise<number> {
    let removed = 0;
    const seenInCall = new Set<string>();
    for (const id of messageIds) {
      if (seenInCall.has(id)) continue;
      seenInCall.add(id);
      const stored = await this.store.get('inboxById', id);
      if (stored === undefined) continue;
      const { cursor } = decodeInboxId(stored);
      if (cursor === 0) continue;
      tx.del('inbox', counterKey(cursor));
      tx.put('inboxById', id, encodeInboxId({ cursor: 0, at: now }));
      removed += 1;
    }
    tx.onCommit(() => {
      this.unacked = Math.max(0, this.unacked - removed);
    });
    return removed;
  }

  /** Forgets acked ids older than the retention (a full scan: run it rarely). */
  async prune(now: number): Promise<number> {
    const ops: Array<{ type: 'del'; kind: 'inboxById'; key: string }> = [];
    for await (const rec of this.store.iterate('inboxById')) {
      if (!rec.ok) continue;
      const x = decodeInboxId(rec.value);
      if (x.cursor === 0 && now - x.at > ACKED_ID_RETENTION_MS) ops.push({ type: 'del', kind: 'inboxById', key: rec.key });
    }
    if (ops.length > 0) await this.store.batch(ops);
    return ops.length;
  }
}
