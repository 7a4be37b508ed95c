/**
 * Runs handlers for incoming messages and owns the ack rule: a message is acked only after its
 * handler resolved. Each message is in exactly one state:
 *
 *   queued → running → acking → (acked, forgotten)
 *                    ↘ retrying (handler threw; runs again after a backoff delay)
 *                    ↘ unclaimed (nobody handles it yet: kept unacked for a later waiter/handler)
 *
 * A message already known (a replay after a reconnect re-offers everything unacked, including
 * messages being handled right now) is ignored, as is one acked a moment ago. Acks that fail (the
 * daemon went away) are kept and flushed when the bot reconnects; the daemon ignores repeated acks.
 * A message dropped from memory (stop, full buffer) is simply left unacked: the daemon offers it
 * again on the next Receive, so nothing is lost.
 */
import type { InboundMessage } from '../../daemon/api/backend.ts';
import type { Backoff } from './backoff.ts';

export type RouteOutcome = 'consumed' | 'unclaimed';

export interface DispatcherConfig {
  /** Runs the handlers; resolves when the message may be acked, or 'unclaimed' when nothing took it. */
  route(message: InboundMessage): Promise<RouteOutcome>;
  ack(messageIds: string[]): Promise<void>;
  /** Handlers running at the same time (1 keeps the daemon's order). */
  concurrency: number;
  retry: Backoff;
  onHandlerError(info: { error: unknown; message: InboundMessage; attempt: number; retryInMs: number }): void;
  onAcked(messageId: string): void;
  onAckFailed(error: unknown, messageIds: readonly string[]): void;
}

export interface Backlog {
  queued: number;
  running: number;
  /** Handler failed; waiting for the retry delay. */
  retrying: number;
  /** Nobody handles them yet (no handler, no matching waiter). */
  unclaimed: number;
  /** Handled, ack not yet confirmed by the daemon. */
  unconfirmedAcks: number;
}

type State = 'queued' | 'running' | 'retrying' | 'acking' | 'unclaimed';

interface Tracked {
  message: InboundMessage;
  state: State;
  failures: number;
  timer?: NodeJS.Timeout;
}

/** Messages waiting for a handler before the bot stops reading the stream (the daemon keeps the rest). */
export const MAX_QUEUED = 500;
/** Unclaimed messages kept in memory; older ones are dropped (they stay unacked in the daemon). */
export const MAX_UNCLAIMED = 1_000;
/** Recently acked ids remembered to ignore a replay that raced the ack. */
const RECENT_ACKS = 10_000;
/** Largest Ack request the API accepts. */
const MAX_ACK_IDS = 1_000;

export class Dispatcher {
  private readonly tracked = new Map<string, Tracked>();
  private readonly queue: Tracked[] = [];
  private readonly unclaimed: Tracked[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly pendingAcks = new Set<string>();
  private readonly recentAcks = new Set<string>();
  private readonly roomWaiters: (() => void)[] = [];
  private running = 0;
  private stopped = false;

  constructor(private readonly config: DispatcherConfig) {}

  /** A message from the Receive stream (replayed or live). */
  offer(message: InboundMessage): void {
    if (this.stopped || this.tracked.has(message.messageId) || this.recentAcks.has(message.messageId)) return;
    this.enqueue({ message, state: 'queued', failures: 0 });
  }

  /** Resolves when fewer than MAX_QUEUED messages wait for a handler (or at once after stop). */
  room(): Promise<void> {
    if (this.stopped || this.queue.length < MAX_QUEUED) return Promise.resolve();
    return new Promise((done) => this.roomWaiters.push(done));
  }

  /** Removes and returns the oldest unclaimed message that matches (the caller consumes and acks it). */
  takeUnclaimed(match: (message: InboundMessage) => boolean): InboundMessage | undefined {
    const index = this.unclaimed.findIndex((t) => match(t.message));
    if (index < 0) return undefined;
    const [entry] = this.unclaimed.splice(index, 1);
    if (entry === undefined) return undefined;
    entry.state = 'acking';
    return entry.message;
  }

  /** Routes the unclaimed messages again (a message handler was added). */
  redispatchUnclaimed(): void {
    for (const entry of this.unclaimed.splice(0)) this.enqueue(entry);
  }

  /** Acks a message consumed outside the handlers (by takeUnclaimed); failures are retried later. */
  async ackConsumed(messageId: string): Promise<void> {
    await this.ackOne(messageId);
  }

  /** How many messages are in each state now. */
  backlog(): Backlog {
    const count = (state: State): number => [...this.tracked.values()].filter((t) => t.state === state).length;
    return { queued: this.queue.length, running: this.running, retrying: count('retrying'), unclaimed: this.unclaimed.length, unconfirmedAcks: this.pendingAcks.size };
  }

  /** Retries acks that failed; throws if the daemon still refuses (the caller backs off). */
  async flushAcks(): Promise<void> {
    const ids = [...this.pendingAcks];
    for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
      const chunk = ids.slice(i, i + MAX_ACK_IDS);
      await this.config.ack(chunk);
      for (const id of chunk) this.confirmAck(id);
    }
  }

  /**
   * Stops taking new work: forgets queued, retrying and unclaimed messages (left unacked), then
   * waits for running handlers, at most `timeoutMs`. Resolves true when they all finished.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    this.stopped = true;
    for (const entry of [...this.queue.splice(0), ...this.unclaimed.splice(0)]) this.forget(entry);
    for (const done of this.roomWaiters.splice(0)) done();
    for (const entry of this.tracked.values()) if (entry.state === 'retrying') this.forget(entry);
    if (this.inFlight.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((done) => (timer = setTimeout(() => done(false), timeoutMs)));
    const finished = Promise.allSettled([...this.inFlight]).then(() => true as const);
    const result = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    return result;
  }

  private enqueue(entry: Tracked): void {
    entry.state = 'queued';
    this.tracked.set(entry.message.messageId, entry);
    this.queue.push(entry);
    this.pump();
  }

  private forget(entry: Tracked): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    this.tracked.delete(entry.message.messageId);
  }

  private pump(): void {
    while (!this.stopped && this.running < this.config.concurrency) {
      const entry = this.queue.shift();
      if (entry === undefined) return;
      if (this.queue.length < MAX_QUEUED) for (const done of this.roomWaiters.splice(0)) done();
      this.running++;
      entry.state = 'running';
      const run = this.handle(entry).finally(() => {
        this.running--;
        this.inFlight.delete(run);
        this.pump();
      });
      this.inFlight.add(run);
    }
  }

  private async handle(entry: Tracked): Promise<void> {
    let outcome: RouteOutcome;
    try {
      outcome = await this.config.route(entry.message);
    } catch (error) {
      return this.failed(entry, error);
    }
    if (outcome === 'unclaimed') return this.keepUnclaimed(entry);
    entry.state = 'acking';
    await this.ackOne(entry.message.messageId);
  }

  private failed(entry: Tracked, error: unknown): void {
    const retryInMs = this.config.retry.delay(entry.failures);
    entry.failures++;
    this.config.onHandlerError({ error, message: entry.message, attempt: entry.failures, retryInMs });
    if (this.stopped) return this.forget(entry);
    entry.state = 'retrying';
    entry.timer = setTimeout(() => {
      delete entry.timer;
      if (!this.stopped && this.tracked.get(entry.message.messageId) === entry) {
        this.queue.push(entry);
        entry.state = 'queued';
        this.pump();
      }
    }, retryInMs);
  }

  private keepUnclaimed(entry: Tracked): void {
    if (this.stopped) return this.forget(entry);
    entry.state = 'unclaimed';
    this.unclaimed.push(entry);
    while (this.unclaimed.length > MAX_UNCLAIMED) {
      const oldest = this.unclaimed.shift();
      if (oldest !== undefined) this.forget(oldest);
    }
  }

  private async ackOne(messageId: string): Promise<void> {
    this.pendingAcks.add(messageId);
    try {
      await this.config.ack([messageId]);
    } catch (error) {
      // Stays in pendingAcks (and tracked, so a replay does not run the handler again) until
      // flushAcks succeeds after the reconnect.
      this.config.onAckFailed(error, [messageId]);
      return;
    }
    this.confirmAck(messageId);
  }

  private confirmAck(messageId: string): void {
    if (!this.pendingAcks.delete(messageId)) return;
    this.tracked.delete(messageId);
    this.recentAcks.add(messageId);
    if (this.recentAcks.size > RECENT_ACKS) {
      const oldest = this.recentAcks.values().next();
      if (oldest.done !== true) this.recentAcks.delete(oldest.value);
    }
    this.config.onAcked(messageId);
  }
}
