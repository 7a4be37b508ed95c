/**
 * The client side of SendStream (MessengerClient.send uses it by default): sends go out on one
 * lazily opened bidi stream, each with a request_id, and each waits in a pending map for its
 * result. To the caller it behaves like the unary Send: the same resolved value, and failures
 * reject with an ApiCallError carrying the code, ratchetd error code and message the unary call
 * would have. A send waits at most timeoutMs (DEADLINE_EXCEEDED). When the stream ends or fails,
 * every send still waiting is rejected with the stream's status (UNAVAILABLE if it ended without
 * one) and the next send opens a new stream. A stream with nothing pending for idleMs is ended,
 * so an open call does not keep a finished process alive; close() ends it too (sends still waiting
 * get their results: the daemon answers what it has read before it ends the stream).
 */
import * as grpc from '@grpc/grpc-js';
import { ApiCallError } from './call-error.ts';
import type { Timer, Timers } from './timers.ts';
import type { WireSendRequest, WireSendStreamResult } from './wire.ts';

export interface SendStreamOptions {
  /** Opens the SendStream call (metadata included); requests are written as serialized bytes. */
  open: () => grpc.ClientDuplexStream<Buffer, WireSendStreamResult>;
  /** Serializes one SendStreamRequest. */
  serialize: (request: { request_id: number; send: WireSendRequest }) => Buffer;
  /** How long a send waits for its result (ms). */
  timeoutMs: number;
  /** How long a stream with nothing pending stays open (ms). */
  idleMs: number;
  /** Turns a stream failure into the error pending sends are rejected with. */
  toCallError: (e: unknown) => Error;
  /** The clock of the deadlines and the idle time (the system's outside tests). */
  timers: Timers;
}

interface PendingSend {
  resolve: (result: { messageId: string }) => void;
  reject: (e: Error) => void;
  /** Clock value after which the send is rejected with DEADLINE_EXCEEDED. */
  deadline: number;
}

/** One SendStream call and the sends waiting for their results on it. */
class Session {
  readonly pending = new Map<number, PendingSend>();
  private readonly call: grpc.ClientDuplexStream<Buffer, WireSendStreamResult>;
  /** Half-closed by this side: nothing more is written. */
  private ending = false;
  /** The stream has ended (or failed): nothing more is written, pending sends are about to be rejected. */
  private over = false;
  private done = false;
  private failure: Error | undefined;
  private timer: Timer | undefined;
  private timerDue = 0;
  /** Clock value when the pending map last became empty. */
  private idleSince: number;

  constructor(
    private readonly options: SendStreamOptions,
    /** Called once when this session takes no more sends (ending or done). */
    private readonly detach: (session: Session) => void,
  ) {
    this.idleSince = options.timers.now();
    this.call = options.open();
    this.call.on('data', (result: WireSendStreamResult) => this.onResult(result));
    // A non-OK status comes as 'error', then 'status'; an OK one only as 'status'. grpc-js emits
    // them synchronously, possibly before results it has already received were emitted as 'data'
    // (nextTick): the pending sends are rejected one macrotask later, after those results.
    this.call.on('error', (e: unknown) => {
      this.failure ??= options.toCallError(e);
      this.streamOver();
    });
    this.call.on('status', () => this.streamOver());
    this.call.on('close', () => this.streamOver());
    this.arm();
  }

  get acceptsSends(): boolean {
    return !this.ending && !this.over;
  }

  send(requestId: number, request: WireSendRequest): Promise<{ messageId: string }> {
    let bytes: Buffer;
    try {
      bytes = this.options.serialize({ request_id: requestId, send: request });
    } catch (e) {
      // As the unary call would fail (grpc-js cancels it with INTERNAL), without ending the stream.
      return Promise.reject(new ApiCallError(grpc.status.INTERNAL, `Request message serialization failure: ${e instanceof Error ? e.message : String(e)}`, undefined));
    }
    return new Promise((resolve, reject) => {
      const deadline = this.options.timers.now() + this.options.timeoutMs;
      this.pending.set(requestId, { resolve, reject, deadline });
      // The timer may be set for the end of the idle time, after this deadline (a short timeout).
      if (deadline < this.timerDue) this.rearm();
      this.call.write(bytes);
    });
  }

  /** Half-closes: the daemon answers what it has read, then ends the stream. */
  end(): void {
    if (this.ending || this.over) return;
    this.ending = true;
    this.detach(this);
    this.call.end();
    this.rearm();
  }

  private onResult(result: WireSendStreamResult): void {
    const pending = this.pending.get(result.request_id);
    if (pending === undefined) return; // its deadline passed: already rejected
    this.pending.delete(result.request_id);
    if (this.pending.size === 0) this.becameIdle();
    if (result.result === 'message_id') pending.resolve({ messageId: result.message_id });
    else if (result.result === 'error') pending.reject(new ApiCallError(result.error.code, result.error.message, result.error.error_code === '' ? undefined : result.error.error_code));
    else pending.reject(new ApiCallError(grpc.status.INTERNAL, 'SendStream result without message_id or error', undefined));
  }

  private streamOver(): void {
    if (this.over) return;
    this.over = true;
    if (!this.ending) this.detach(this);
    setImmediate(() => this.finish(this.failure ?? new ApiCallError(grpc.status.UNAVAILABLE, 'the SendStream ended before answering this send', undefined)));
  }

  private finish(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const pending of waiting) pending.reject(copyError(error));
  }

  private becameIdle(): void {
    this.idleSince = this.options.timers.now();
    // The timer may be set for a send's deadline, long after the idle time is up.
    if (this.timerDue > this.idleSince + this.options.idleMs) this.rearm();
  }

  /** When the timer must next look: the oldest pending send's deadline, or the end of the idle time. */
  private nextDue(): number {
    const oldest = this.pending.values().next();
    // Sends are kept in the order they were made, all with the same timeout: the first is due first.
    if (!oldest.done) return oldest.value.deadline;
    return this.ending ? Infinity : this.idleSince + this.options.idleMs;
  }

  private rearm(): void {
    this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.arm();
  }

  private arm(): void {
    if (this.done || this.timer !== undefined) return;
    const due = this.nextDue();
    if (due === Infinity) return;
    this.timerDue = due;
    this.timer = this.options.timers.setTimeout(() => this.tick(), Math.max(0, due - this.options.timers.now()));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    const now = this.options.timers.now();
    for (const [requestId, pending] of this.pending) {
      if (pending.deadline > now) break;
      this.pending.delete(requestId);
      if (this.pending.size === 0) this.idleSince = now;
      pending.reject(new ApiCallError(grpc.status.DEADLINE_EXCEEDED, `Deadline exceeded after ${this.options.timeoutMs} ms (SendStream)`, undefined));
    }
    if (this.pending.size === 0 && !this.ending && now - this.idleSince >= this.options.idleMs) return this.end();
    this.arm();
  }
}

function copyError(e: Error): Error {
  return e instanceof ApiCallError ? new ApiCallError(e.code, e.details, e.errorCode) : e;
}

/** Sends over SendStream, opening a new stream whenever the last one has ended. */
export class StreamSender {
  private session: Session | undefined;
  private nextRequestId = 1;

  constructor(private readonly options: SendStreamOptions) {}

  send(request: WireSendRequest): Promise<{ messageId: string }> {
    this.session ??= new Session(this.options, (s) => {
      if (this.session === s) this.session = undefined;
    });
    return this.session.send(this.nextRequestId++, request);
  }

  /** Sends waiting for a result on the current stream (for tests). */
  get pendingCount(): number {
    return this.session?.pending.size ?? 0;
  }

  /** Whether a stream is open for new sends (for tests). */
  get open(): boolean {
    return this.session?.acceptsSends === true;
  }

  /** Ends the current stream (its pending sends still get their results). */
  close(): void {
    this.session?.end();
  }
}
