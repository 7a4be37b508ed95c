/**
 * Decrypted messages until the local client acks them.
 *
 * - Every stored message gets a cursor, strictly increasing and never reused (the next cursor is
 *   persisted in `meta!counters` in the same batch), so a client resuming "after cursor N" never
 *   misses a message.
 * - The id the API shows (and Ack takes) is unique among unacked messages. It is the hex of the
 *   message id the sender chose, unless another unacked message already shows that id (a sender
 *   reusing an id, or two senders choosing the same one): then it is `<hex>.<cursor>`. The inbox
 *   holds the shown id → cursor of every unacked message in memory (loaded at start; at most
 *   MAX_INBOX_MESSAGES entries), so Ack and the check for a reused id need no store read, and both
 *   messages can be acked, neither acking the other. Duplicates (the same message again) never
 *   reach the inbox: the transcript in the peer record, written in the same batch, drops them.
 * - subscribe() replays the unacked messages after the cursor, reading the store a page at a time
 *   and handing each message on only when the consumer has room (flow control), then goes live.
 *   A message committed while the replay runs is not buffered: the replay reads it from the store.
 *   Other events during the replay are buffered, at most MAX_EVENTS_BUFFERED_DURING_REPLAY.
 * - At MAX_INBOX_MESSAGES unacked messages the inbox is full: the receiver then refuses new
 *   messages without changing any state, and their senders' outboxes send them again later.
 * Callers serialise the transactions that add messages (the receive queue), so cursors commit in order.
 */
import type { Logger } from 'pino';
import type { AttachmentInfo, DaemonEvent, InboundMessage, SubscribeOptions } from './types.ts';
import { EngineError } from './errors.ts';
import { toHex } from '../../core/bytes.ts';
import type { UserId } from '../../core/user-id.ts';
import { counterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import { readInboxPage } from './inbox-page.ts';
import { decodeCounters, decodeInbox, encodeCounters, encodeInbox, type InboxRecord } from './records.ts';
import { Transaction } from './transaction.ts';

const COUNTERS_KEY = 'counters';
/**
 * Unacked messages kept at most: a day of a busy bot's traffic while its client is away. Replays
 * read in pages, so the size costs disk plus ~100 bytes of memory per message (its shown id). Past
 * it, new messages are refused unstored and their senders resend them (outbox retries for 7 days):
 * nothing is lost, the sender waits.
 */
export const MAX_INBOX_MESSAGES = 100_000;
/**
 * Delivery and identity events that arrive while a replay is still running are held until it
 * ends; past this many the subscription fails with SlowConsumer (the client reconnects and
 * resumes: unacked messages are replayed again).
 */
export const MAX_EVENTS_BUFFERED_DURING_REPLAY = 10_000;
/** A refused message is logged at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface NewInboundMessage {
  messageId: Uint8Array;
  from: UserId;
  body: Uint8Array;
  contentType: string;
  sentAt: number;
  /** the group of a group message */
  groupId?: string;
  attachment?: AttachmentInfo;
}

interface Subscriber {
  onEvent(e: DaemonEvent): void;
  lastCursor: number;
  replaying: boolean;
  /** Non-message events published during the replay. */
  buffer: DaemonEvent[];
  overflowed: boolean;
  closed: boolean;
}

/** The id the API shows for a stored message. */
export function shownId(r: Pick<InboxRecord, 'messageId' | 'cursor' | 'aliased'>): string {
  const hex = toHex(r.messageId);
  return r.aliased === true ? `${hex}.${r.cursor}` : hex;
}

export function toInboundMessage(r: InboxRecord): InboundMessage {
  return {
    messageId: shownId(r),
    from: r.from,
    body: r.body,
    contentType: r.contentType,
    sentAt: r.sentAt,
    receivedAt: r.receivedAt,
    cursor: r.cursor,
    ...(r.groupId !== undefined ? { groupId: r.groupId } : {}),
    ...(r.attachment !== undefined ? { attachment: r.attachment } : {}),
  };
}

/** Told of the messages (shown id → cursor) an ack removes, as its transaction is built (idempotency.ts). */
export type AckListener = (tx: Transaction, acked: ReadonlyMap<string, number>) => void;

export class Inbox {
  private nextCursor = 1;
  /** The highest cursor announced (its batch durable): a replay reads until it has passed it. */
  private durableCursor = 0;
  private readonly subscribers = new Set<Subscriber>();
  /**
   * Shown id → cursor of every unacked message: added when its batch is staged, removed as soon as
   * an ack of it is built (the ack's batch is staged right after, before any later one).
   */
  private readonly cursorById = new Map<string, number>();
  onAcked: AckListener = () => undefined;
  /** Messages refused since start because the inbox was full. */
  refusedMessages = 0;
  /** Messages stored since start (their batch durable). */
  receivedMessages = 0;
  private lastRefusalLogAt = -Infinity;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly maxMessages = MAX_INBOX_MESSAGES,
  ) {}

  async load(): Promise<void> {
    const counters = await this.store.get('meta', COUNTERS_KEY);
    if (counters !== undefined) this.nextCursor = Math.max(this.nextCursor, decodeCounters(counters).nextCursor);
    for await (const rec of this.store.iterate('inbox')) {
      if (!rec.ok) {
        this.log.error({ code: rec.error.code }, 'an inbox record is corrupt; it is skipped');
        continue;
      }
      const r = decodeInbox(rec.value);
      this.nextCursor = Math.max(this.nextCursor, r.cursor + 1);
      this.cursorById.set(shownId(r), r.cursor);
    }
    this.durableCursor = this.nextCursor - 1;
    await this.dropLegacyIndex();
  }

  /** Earlier versions kept shown id → cursor on disk (inboxById); memory holds it now. */
  private async dropLegacyIndex(): Promise<void> {
    const tx = new Transaction();
    for await (const rec of this.store.iterate('inboxById')) if (rec.ok) tx.del('inboxById', rec.key);
    if (tx.ops.length > 0) await tx.commit(this.store);
  }

  /** Unacked messages (readable ones). */
  get depth(): number {
    return this.cursorById.size;
  }

  /**
   * Whether `count` more messages fit under MAX_INBOX_MESSAGES. A refusal is counted and logged (at
   * most once a minute); the receiver then stores nothing of that envelope.
   */
  admits(count: number, now: number): boolean {
    if (count === 0 || this.depth + count <= this.maxMessages) return true;
    this.refusedMessages += count;
    if (now - this.lastRefusalLogAt >= REFUSAL_LOG_INTERVAL_MS) {
      this.lastRefusalLogAt = now;
      this.log.warn({ unacked: this.depth, refused: this.refusedMessages }, 'inbox full: new messages are refused until the client acks (their senders resend them)');
    }
    return false;
  }

  /** Adds the messages to tx (cursors allocated now); they are announced to subscribers on commit. */
  add(tx: Transaction, messages: readonly NewInboundMessage[], receivedAt: number): InboundMessage[] {
    const out: InboundMessage[] = [];
    const shownHere = new Set<string>();
    for (const m of messages) {
      const hex = toHex(m.messageId);
      const taken = shownHere.has(hex) || this.cursorById.has(hex);
      const rec: InboxRecord = { cursor: this.nextCursor++, receivedAt, ...m, ...(taken ? { aliased: true } : {}) };
      const message = toInboundMessage(rec);
      if (taken) this.log.warn({ from: m.from, cursor: rec.cursor }, 'a message reuses the id of an unacked message; it is shown with a disambiguated id');
      shownHere.add(message.messageId);
      tx.put('inbox', counterKey(rec.cursor), encodeInbox(rec));
      out.push(message);
    }
    if (out.length > 0) {
      tx.put('meta', COUNTERS_KEY, encodeCounters({ nextCursor: this.nextCursor }));
      tx.onApply(() => {
        for (const m of out) this.cursorById.set(m.messageId, m.cursor);
      });
      tx.onDurable(() => {
        this.receivedMessages += out.length;
        for (const message of out) {
          this.durableCursor = Math.max(this.durableCursor, message.cursor);
          this.publish({ kind: 'message', message });
        }
      });
    }
    return out;
  }

  /** Fans an event out to subscribers. A replaying subscriber reads messages from the store itself. */
  publish(event: DaemonEvent): void {
    for (const s of this.subscribers) {
      if (!s.replaying) this.deliver(s, event);
      else if (event.kind !== 'message') this.hold(s, event);
    }
  }

  private hold(s: Subscriber, event: DaemonEvent): void {
    if (s.buffer.length >= MAX_EVENTS_BUFFERED_DURING_REPLAY) {
      s.overflowed = true;
      s.buffer.length = 0;
      return;
    }
    if (!s.overflowed) s.buffer.push(event);
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

  /**
   * Replays unacked messages with cursor > afterCursor, then live events. Each replayed message is
   * handed on after `options.waitForRoom` resolves; `options.signal` abandons the replay (the
   * promise then resolves with a no-op unsubscribe). Rejects with SlowConsumer when more events
   * than MAX_EVENTS_BUFFERED_DURING_REPLAY arrive during the replay.
   */
  async subscribe(afterCursor: number, onEvent: (e: DaemonEvent) => void, extraReplay: readonly DaemonEvent[] = [], options: SubscribeOptions = {}): Promise<() => void> {
    const s: Subscriber = { onEvent, lastCursor: Math.max(0, afterCursor), replaying: true, buffer: [], overflowed: false, closed: false };
    const unsubscribe = (): void => {
      s.closed = true;
      this.subscribers.delete(s);
    };
    const abandoned = (): boolean => s.closed || options.signal?.aborted === true;
    this.subscribers.add(s);
    try {
      let scanned = counterKey(s.lastCursor);
      for (;;) {
        // Everything announced up to `horizon` is in the store before this page is read.
        const horizon = this.durableCursor;
        const page = await readInboxPage(this.store, this.log, scanned);
        for (const rec of page.records) {
          if (options.waitForRoom !== undefined) await options.waitForRoom();
          if (abandoned()) break;
          this.deliver(s, { kind: 'message', message: toInboundMessage(rec) });
        }
        if (abandoned()) break;
        if (s.overflowed) throw new EngineError('SlowConsumer', 'Receive stream cut off: too many events arrived during the replay; reconnect to resume (unacked messages are replayed)');
        if (page.lastKey === undefined && page.full) {
          // Without a readable record there is no key to resume after (corrupt records carry none).
          this.log.error('a whole replay page of inbox records is corrupt; the replay stops there');
          break;
        }
        scanned = page.lastKey ?? scanned;
        // A full page: read on. A short one reached the end of the store as of `horizon`; a message
        // announced since may have been missed by the read (and is not buffered): read again.
        if (page.full || this.durableCursor > horizon) continue;
        break;
      }
      if (!abandoned()) for (const e of extraReplay) this.deliver(s, e);
    } catch (e) {
      unsubscribe();
      throw e;
    } finally {
      // No await between the last page and this switch: a message announced from now on goes live.
      s.replaying = false;
      for (const e of s.buffer.splice(0)) this.deliver(s, e);
    }
    if (abandoned()) {
      unsubscribe();
      return () => undefined;
    }
    return unsubscribe;
  }

  /** The cursor of the unacked message shown with this id, or undefined if there is none. */
  cursorOf(messageId: string): number | undefined {
    return this.cursorById.get(messageId);
  }

  /** Deletes acked messages; unknown or already acked ids are ignored. Callers serialise acks. */
  ack(tx: Transaction, messageIds: readonly string[]): number {
    const acked = new Map<string, number>();
    for (const id of messageIds) {
      const cursor = this.cursorById.get(id);
      if (cursor === undefined) continue;
      tx.del('inbox', counterKey(cursor));
      acked.set(id, cursor);
      // Acked from now on (the caller stages tx next): a reply not yet recorded is recorded
      // globally, and a new message may show this id again.
      this.cursorById.delete(id);
    }
    if (acked.size > 0) this.onAcked(tx, acked);
    return acked.size;
  }
}
