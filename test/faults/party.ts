/**
 * One side of the fault conversation, behaving as a real bot does over the gRPC API:
 *
 * - The sender sends message k only after message k-1 was accepted (so "per-sender order" is
 *   well defined), with the idempotency key `<from>-<k>`, and retries the SAME key after any
 *   failure (daemon killed mid-call, not ready yet, …) until it gets a message id.
 * - The receiver keeps a Receive stream open (reconnecting after a kill), records each message and
 *   acks it; unacked messages are replayed by the daemon after a reconnect.
 *
 * The bookkeeping tells lost, duplicated and reordered messages apart:
 *  - a message id offered again is a redelivery; that is allowed only while its ack was never
 *    confirmed (the bot would drop it by id), and counted as a violation after a confirmed ack;
 *  - the same payload under a second message id is a duplicate (a retried send that was not
 *    idempotent, or a message the daemon delivered twice);
 *  - first deliveries must come in exactly the sender's order 0, 1, 2, …
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiCallError, MessengerClient, type ApiEvent } from '../../daemon/api/client.ts';

const CALL_TIMEOUT_MS = 5_000;
/** Answers that a retry cannot change: the run fails at once instead of retrying until its deadline. */
const PERMANENT = new Set(['INVALID_ARGUMENT', 'NOT_FOUND', 'ALREADY_EXISTS', 'FAILED_PRECONDITION', 'PERMISSION_DENIED', 'UNAUTHENTICATED']);
const ACK_BATCH = 64;

export interface PartyAddress {
  name: string;
  userId: string;
  socket: string;
}

export interface ReceiveLedger {
  /** First delivery of each payload index: the message id it came with. */
  readonly idByIndex: Map<number, string>;
  /** Payload indexes in the order they were first delivered. */
  readonly firstOrder: number[];
  redeliveries: number;
  readonly violations: string[];
}

export class Party {
  /** Message id the daemon returned for each payload index sent. */
  readonly sentIds: string[] = [];
  sendRetries = 0;
  readonly ledger: ReceiveLedger = { idByIndex: new Map(), firstOrder: [], redeliveries: 0, violations: [] };
  private readonly indexById = new Map<string, number>();
  /** Message id → when its ack was confirmed (ms). */
  private readonly ackConfirmed = new Map<string, number>();
  private readonly pendingAcks = new Set<string>();
  private readonly stopController = new AbortController();
  private receiving: Promise<void> | undefined;
  private arrivalListeners: Array<() => void> = [];
  reconnects = 0;

  constructor(
    private readonly self: () => PartyAddress,
    private readonly peer: () => PartyAddress,
  ) {}

  private get name(): string {
    return this.self().name;
  }

  static body(from: string, index: number): string {
    return `${from}->${index.toString().padStart(6, '0')}`;
  }

  private client(): MessengerClient {
    return new MessengerClient({ socketPath: this.self().socket, callTimeoutMs: CALL_TIMEOUT_MS });
  }

  /** Sends payload `index` until the daemon accepts it (same idempotency key on every attempt). */
  async sendOne(index: number): Promise<string> {
    const key = `${this.name}-${index}`;
    const body = Party.body(this.name, index);
    for (let attempt = 0; ; attempt++) {
      if (this.stopController.signal.aborted) throw new Error(`${this.name} stopped while sending ${index}`);
      const client = this.client();
      try {
        const { messageId } = await client.send({ to: this.peer().userId, body, idempotencyKey: key });
        const earlier = this.sentIds[index];
        if (earlier !== undefined && earlier !== messageId) {
          this.ledger.violations.push(`${this.name}: payload ${index} was given two message ids (${earlier}, ${messageId})`);
        }
        this.sentIds[index] = messageId;
        return messageId;
      } catch (e) {
        if (e instanceof ApiCallError && PERMANENT.has(e.statusName)) {
          throw new Error(`${this.name}: send ${index} refused for good (${e.message}${e.errorCode ? `, ${e.errorCode}` : ''})`, { cause: e });
        }
        this.sendRetries += 1;
        await sleep(Math.min(500, 20 * 2 ** Math.min(attempt, 5)));
      } finally {
        client.close();
      }
    }
  }

  /** Sends payloads [from, to) one after another; beforeSend may hold a send back, onSent after each. */
  async sendRange(from: number, to: number, onSent: () => void = () => undefined, beforeSend: () => Promise<void> = async () => undefined): Promise<void> {
    for (let i = from; i < to; i++) {
      await beforeSend();
      await this.sendOne(i);
      onSent();
    }
  }

  startReceiving(): void {
    this.receiving ??= this.receiveLoop();
  }

  private async receiveLoop(): Promise<void> {
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      const client = this.client();
      const openedAt = Date.now();
      try {
        for await (const event of client.receive({ signal })) this.onEvent(client, event, openedAt);
      } catch {
        // The daemon went away (killed) or is not ready yet: reconnect below.
      } finally {
        client.close();
      }
      if (signal.aborted) break;
      this.reconnects += 1;
      await sleep(50 + Math.floor(Math.random() * 100));
    }
  }

  private onEvent(client: MessengerClient, event: ApiEvent, streamOpenedAt: number): void {
    if (event.kind === 'identityChanged') {
      this.ledger.violations.push(`${this.name}: identity-change alert for ${event.userId} (nobody changed an identity)`);
      return;
    }
    if (event.kind !== 'message') return;
    const m = event.message;
    const text = new TextDecoder().decode(m.body);
    const peer = this.peer();
    const match = /^(\w+)->(\d{6})$/.exec(text);
    if (m.from !== peer.userId || match === null || match[1] !== peer.name) {
      this.ledger.violations.push(`${this.name}: unexpected message from ${m.from}: ${text.slice(0, 40)}`);
      return;
    }
    const index = Number(match[2]);
    const known = this.indexById.get(m.messageId);
    if (known !== undefined) {
      this.ledger.redeliveries += 1;
      if (known !== index) this.ledger.violations.push(`${this.name}: message id ${m.messageId} came with payload ${known} and ${index}`);
      // Offered on a stream opened after the ack was confirmed: the daemon lost a committed ack.
      const confirmedAt = this.ackConfirmed.get(m.messageId);
      if (confirmedAt !== undefined && confirmedAt < streamOpenedAt) {
        this.ledger.violations.push(`${this.name}: ${text} offered again after its ack was confirmed`);
      }
    } else {
      const earlierId = this.ledger.idByIndex.get(index);
      if (earlierId !== undefined) {
        this.ledger.violations.push(`${this.name}: ${text} delivered twice (message ids ${earlierId} and ${m.messageId})`);
      } else {
        const expected = this.ledger.firstOrder.length;
        if (index !== expected) this.ledger.violations.push(`${this.name}: got ${text} when payload ${expected} was due (order)`);
        this.ledger.idByIndex.set(index, m.messageId);
        this.ledger.firstOrder.push(index);
      }
      this.indexById.set(m.messageId, index);
      for (const l of this.arrivalListeners.splice(0)) l();
    }
    this.pendingAcks.add(m.messageId);
    void this.flushAcks(client);
  }

  private flushing = false;

  private async flushAcks(client: MessengerClient): Promise<void> {
    if (this.flushing || this.pendingAcks.size === 0) return;
    this.flushing = true;
    const ids = [...this.pendingAcks].slice(0, ACK_BATCH);
    for (const id of ids) this.pendingAcks.delete(id);
    try {
      await client.ack(ids);
      const at = Date.now();
      for (const id of ids) this.ackConfirmed.set(id, at);
    } catch {
      // Not confirmed: the daemon may or may not have stored the ack; a redelivery is allowed.
    } finally {
      this.flushing = false;
    }
    if (this.pendingAcks.size > 0) void this.flushAcks(client);
  }

  /** Resolves when `count` distinct payloads arrived, or rejects after deadlineMs. */
  async waitForFirstDeliveries(count: number, deadlineMs: number, describe: () => string): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (this.ledger.firstOrder.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} got ${this.ledger.firstOrder.length} of ${count} messages in time; ${describe()}`);
      await Promise.race([new Promise<void>((r) => this.arrivalListeners.push(r)), sleep(Math.min(left, 1_000))]);
    }
  }

  /** Payload indexes below `count` never delivered. */
  missing(count: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < count; i++) if (!this.ledger.idByIndex.has(i)) out.push(i);
    return out;
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.receiving;
  }
}
