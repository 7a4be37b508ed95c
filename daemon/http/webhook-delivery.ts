/**
 * The webhook (`ratchetd daemon --webhook URL --webhook-secret-file F`): every received message is
 * POSTed to URL as JSON (the HTTP API's message shape, json.ts), signed (webhook-signature.ts).
 *
 *  - Acked only after a 2xx answer, and only then is the sender's next message posted: in order per
 *    sender, one at a time; messages of different senders go out side by side (MAX_CONCURRENT_POSTS).
 *  - Anything else — another status, a refused connection, a timeout — is retried with backoff from
 *    about a second (webhook-policy.ts) for at least the retry budget (an hour). Then the message
 *    becomes a dead letter (marked durably in the engine, left in the inbox) and the sender's next
 *    message goes. A re-drive clears marks and the messages are delivered again.
 *  - Never lost: messages are read from the inbox, which keeps them until acked, so a restart
 *    replays every unacked message that is not a dead letter. Never posted again after a 2xx while
 *    the daemon runs; a crash between the 2xx and the durable ack posts it once more after the
 *    restart (receivers can drop it by messageId).
 * Memory is bounded: at most MAX_QUEUED_MESSAGES are read ahead; the replay waits for room, and
 * live messages beyond it are left in the inbox and read again once the queue has drained (a fresh
 * subscription after the last message taken). Clock, timers and randomness are injectable.
 */
import { errCode } from '../engine/sender.ts';
import type { Timer, Timers } from '../api/timers.ts';
import { systemTimers } from '../api/timers.ts';
import type { ApiLogger } from '../api/handlers.ts';
import type { DaemonApi, DaemonEvent, InboundMessage } from '../engine/types.ts';
import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './webhook-policy.ts';
import { createWebhookPoster } from './webhook-post.ts';

/** Senders whose message is being posted at once (one connection each, kept alive). */
export const MAX_CONCURRENT_POSTS = 4;
/** Messages read ahead of delivery; the inbox holds the rest. */
export const MAX_QUEUED_MESSAGES = 1_000;
/** A subscription that failed (e.g. too many events during its replay) is tried again after this (ms). */
export const RESUBSCRIBE_DELAY_MS = 1_000;
/** How long close() lets posts in flight finish before cancelling them (ms). */
export const CLOSE_GRACE_MS = 2_000;

/** The outcome of one delivery attempt (WebhookConfig.onAttempt). */
export interface WebhookAttempt {
  messageId: string;
  from: string;
  /** 1 for the first attempt of this message. */
  attempt: number;
  outcome: 'delivered' | 'retry' | 'dead';
  /** Why it failed ("HTTP 503", "ECONNREFUSED", "timeout"). */
  error?: string;
  /** When retried: after how long (ms). */
  retryInMs?: number;
}

export interface WebhookConfig {
  url: string;
  /** The HMAC key (the secret file without its trailing newline). */
  secret: Uint8Array;
  logger: ApiLogger;
  timers?: Timers;
  random?: () => number;
  policy?: Partial<RetryPolicy>;
  maxConcurrent?: number;
  maxQueued?: number;
  /** Told of every attempt once its outcome is settled (acked, retry scheduled or dead letter stored). */
  onAttempt?: (a: WebhookAttempt) => void;
}

/** One sender's messages, oldest first; the head is the one being delivered. */
interface SenderQueue {
  readonly from: string;
  items: InboundMessage[];
  failures: number;
  firstAttemptAt: number;
  lastError: string;
  posting: boolean;
  retry: Timer | undefined;
}

export interface WebhookDelivery {
  start(): Promise<void>;
  /** The engine cleared these dead-letter marks: deliver those messages again. */
  redriven(messageIds: readonly string[]): void;
  close(): Promise<void>;
  /** Messages read from the inbox and not yet acked or given up on (test support, status). */
  readonly queued: number;
}

export function createWebhookDelivery(api: DaemonApi, config: WebhookConfig): WebhookDelivery {
  const timers = config.timers ?? systemTimers;
  const random = config.random ?? Math.random;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...config.policy };
  const maxConcurrent = config.maxConcurrent ?? MAX_CONCURRENT_POSTS;
  const maxQueued = config.maxQueued ?? MAX_QUEUED_MESSAGES;
  const log = config.logger;
  const onAttempt = config.onAttempt ?? (() => undefined);
  const poster = createWebhookPoster({ url: config.url, secret: config.secret, timers, requestTimeoutMs: policy.requestTimeoutMs, connections: maxConcurrent });

  const queues = new Map<string, SenderQueue>();
  const ready: SenderQueue[] = []; // waiting for a posting slot
  const inMemory = new Set<number>(); // cursors queued or being delivered
  const deadIds = new Set<string>();
  /** Cursors acked (or given up on) while the current subscription's replay runs: a page read before may still hold them. */
  const settledDuringReplay = new Set<number>();
  const inFlight = new Set<Promise<void>>();
  let posting = 0;
  let queued = 0;
  let readCursor = 0; // the highest cursor taken from the inbox
  let rescan = false; // a re-drive asked for a replay from the start, not yet complete
  let generation = 0; // subscriptions: only the latest one's events count
  let replaying = false;
  let overflowed = false;
  let unsubscribe: (() => void) | undefined;
  let subscriptionAbort: AbortController | undefined;
  let resubscribeTimer: Timer | undefined;
  let roomWaiters: Array<() => void> = [];
  let closed = false;

  const wakeRoom = (): void => {
    for (const w of roomWaiters.splice(0)) w();
  };

  function stopSubscription(): void {
    generation++;
    subscriptionAbort?.abort();
    subscriptionAbort = undefined;
    unsubscribe?.();
    unsubscribe = undefined;
    wakeRoom();
  }

  function subscribe(): void {
    if (closed) return;
    stopSubscription();
    const gen = generation;
    const abort = new AbortController();
    subscriptionAbort = abort;
    replaying = true;
    overflowed = false;
    settledDuringReplay.clear();
    const from = rescan ? 0 : readCursor;
    const wasRescan = rescan;
    const room = (): Promise<void> | undefined => (queued < maxQueued || abort.signal.aborted ? undefined : new Promise((resolve) => roomWaiters.push(resolve)));
    api.subscribe(from, (e) => onEvent(gen, e), { waitForRoom: room, signal: abort.signal }).then(
      (stop) => {
        if (gen !== generation || closed) return stop();
        unsubscribe = stop;
        replaying = false;
        settledDuringReplay.clear();
        if (wasRescan) rescan = false;
      },
      (e: unknown) => {
        if (gen !== generation || closed) return;
        log.warn({ code: errCode(e) }, 'webhook: reading the inbox failed; trying again');
        stopSubscription();
        resubscribeTimer = timers.setTimeout(subscribe, RESUBSCRIBE_DELAY_MS);
      },
    );
  }

  function onEvent(gen: number, e: DaemonEvent): void {
    if (gen !== generation || closed || e.kind !== 'message') return;
    const m = e.message;
    if (inMemory.has(m.cursor) || settledDuringReplay.has(m.cursor) || deadIds.has(m.messageId)) return;
    if (!replaying && queued >= maxQueued) {
      // Left in the inbox: read again after readCursor once there is room.
      if (!overflowed) log.debug({ queued }, 'webhook: queue full; further messages wait in the inbox');
      overflowed = true;
      stopSubscription();
      return;
    }
    enqueue(m);
    readCursor = Math.max(readCursor, m.cursor);
  }

  function enqueue(m: InboundMessage): void {
    let q = queues.get(m.from);
    if (q === undefined) {
      q = { from: m.from, items: [], failures: 0, firstAttemptAt: 0, lastError: '', posting: false, retry: undefined };
      queues.set(m.from, q);
    }
    // Cursor order; a re-driven (older) message goes before the sender's newer ones, never before a
    // head that is being delivered.
    const busy = q.posting || q.failures > 0 ? 1 : 0;
    let at = q.items.length;
    while (at > busy && (q.items[at - 1]?.cursor ?? 0) > m.cursor) at--;
    q.items.splice(at, 0, m);
    inMemory.add(m.cursor);
    queued++;
    schedule(q);
  }

  function schedule(q: SenderQueue): void {
    if (closed || q.posting || q.retry !== undefined || q.items.length === 0 || ready.includes(q)) return;
    if (posting >= maxConcurrent) {
      ready.push(q);
      return;
    }
    track(deliverHead(q));
  }

  function track(p: Promise<void>): void {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  function freeSlot(): void {
    while (posting < maxConcurrent && ready.length > 0) {
      const q = ready.shift() as SenderQueue;
      schedule(q);
    }
  }

  /** The head message leaves the queue (acked or dead). */
  function settle(q: SenderQueue, m: InboundMessage): void {
    q.items.shift();
    q.failures = 0;
    q.lastError = '';
    inMemory.delete(m.cursor);
    if (replaying) settledDuringReplay.add(m.cursor);
    queued--;
    if (q.items.length === 0) queues.delete(q.from);
    if (queued < maxQueued) wakeRoom();
    if (overflowed && queued <= maxQueued / 2) subscribe();
  }

  async function deliverHead(q: SenderQueue): Promise<void> {
    const m = q.items[0];
    if (m === undefined) return;
    q.posting = true;
    posting++;
    if (q.failures === 0) q.firstAttemptAt = timers.now();
    let failure: string | undefined;
    try {
      failure = await poster.post(m);
    } finally {
      q.posting = false;
      posting--;
    }
    if (closed) return;
    try {
      if (failure === undefined) {
        await api.ack([m.messageId]);
        if (q.failures > 0) log.info({ from: q.from, attempts: q.failures + 1 }, 'webhook: delivered after retrying');
        const attempt = q.failures + 1;
        settle(q, m);
        onAttempt({ messageId: m.messageId, from: m.from, attempt, outcome: 'delivered' });
      } else {
        q.failures++;
        q.lastError = failure;
        if (timers.now() - q.firstAttemptAt >= policy.budgetMs) {
          await api.addDeadLetter(m, { attempts: q.failures, lastError: failure, firstAttemptAt: q.firstAttemptAt });
          deadIds.add(m.messageId);
          log.warn({ from: q.from, messageId: m.messageId, attempts: q.failures, lastError: failure }, 'webhook: gave up on a message (dead letter; ratchetd ctl dead-letters, ctl redrive)');
          const attempt = q.failures;
          settle(q, m);
          onAttempt({ messageId: m.messageId, from: m.from, attempt, outcome: 'dead', error: failure });
        } else {
          if (q.failures === 1) log.warn({ from: q.from, error: failure }, 'webhook: delivery failed; retrying with backoff');
          const delay = retryDelayMs(policy, q.failures, random);
          q.retry = timers.setTimeout(() => {
            q.retry = undefined;
            schedule(q);
          }, delay);
          onAttempt({ messageId: m.messageId, from: m.from, attempt: q.failures, outcome: 'retry', error: failure, retryInMs: delay });
        }
      }
    } catch (e) {
      // The engine refused the ack or the mark: it is stopping (or stopped after a store failure).
      // The message stays unacked in the inbox and is delivered after the restart.
      if (!closed) log.warn({ code: errCode(e) }, 'webhook: the daemon refused the ack; delivery stops');
      closed = true;
      stopSubscription();
    }
    schedule(q);
    freeSlot();
  }

  return {
    async start() {
      const { deadLetters } = await api.listDeadLetters(Number.MAX_SAFE_INTEGER);
      for (const d of deadLetters) deadIds.add(d.messageId);
      subscribe();
    },
    redriven(messageIds) {
      if (closed || messageIds.length === 0) return;
      for (const id of messageIds) deadIds.delete(id);
      rescan = true;
      subscribe();
    },
    async close() {
      if (closed && inFlight.size === 0) return poster.close();
      closed = true;
      stopSubscription();
      timers.clearTimeout(resubscribeTimer);
      for (const q of queues.values()) timers.clearTimeout(q.retry);
      let grace: Timer | undefined;
      await Promise.race([Promise.allSettled([...inFlight]), new Promise<void>((resolve) => (grace = timers.setTimeout(resolve, CLOSE_GRACE_MS)))]);
      timers.clearTimeout(grace);
      poster.abortAll();
      await Promise.allSettled([...inFlight]);
      await poster.close();
    },
    get queued() {
      return queued;
    },
  };
}
