/**
 * Outbound messages until an encrypted delivery receipt returns (no broker PUBACK means
 * delivered). The entry is written in the same batch as the ratchet state that encrypted it, before
 * the envelope leaves the process; it is published (again) with the same bytes:
 *  - at once after the send commits,
 *  - after every reconnect, for entries never acknowledged by the broker since this process started,
 *  - by a timer with exponential backoff for entries the broker took but no receipt answered,
 * and it is given up ('failed' event) after maxAgeMs. The receiver drops duplicates.
 * Only metadata is kept in memory; envelopes are read back from the store when resent.
 */
import type { Logger } from 'pino';
import type { DaemonEvent } from './types.ts';
import { toHex } from '../../core/bytes.ts';
import type { UserId } from '../../core/user-id.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { counterKey, parseCounterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import { ENVELOPE_KIND_HANDSHAKE, ENVELOPE_KIND_PQ_HANDSHAKE } from '../../core/envelope.ts';
import { decodeOutbox, encodeOutbox, type OutboxRecord } from './records.ts';
import type { Transaction } from './transaction.ts';
import { isGroupCarrier } from './groups/group-pairwise.ts';

export interface OutboxPolicy {
  /** First retransmission of a broker-acknowledged message without receipt (ms). */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Give up (and report 'failed') after this age (ms). */
  maxAgeMs: number;
  /** How often the retry timer looks (ms). */
  tickMs: number;
  /**
   * After this many broker-acknowledged publishes of an entry without a receipt, the session is
   * presumed broken on the peer's side (e.g. its state was restored from a backup, so our routing
   * tags mean nothing to it and it cannot even say so): `onStuck` asks for a fresh session.
   */
  stuckAfterPublishes: number;
}

export const DEFAULT_OUTBOX_POLICY: OutboxPolicy = {
  retryInitialMs: 15_000,
  retryMaxMs: 15 * 60_000,
  maxAgeMs: 7 * 24 * 3600_000,
  tickMs: 5_000,
  stuckAfterPublishes: 3,
};

interface Entry {
  seq: number;
  to: UserId;
  messageId: string;
  contentSeq: number;
  createdAt: number;
  /** Publishes the broker acknowledged (this process). */
  acked: number;
  /** When the broker first acknowledged the current envelope (this process). */
  firstAckedAt: number | undefined;
  /** The current envelope is a handshake (its session not yet answered by the peer). */
  handshake: boolean;
  nextRetryAt: number;
  inFlight: boolean;
  /** False while its record (or its replacement) is only queued for writing: never published then. */
  durable: boolean;
  /** Envelope kept until the first publish completes (saves a store read on the fast path). */
  envelope: Uint8Array | undefined;
  /** Bumped by replace(): a publish in flight since then carries the old envelope. */
  version: number;
  /** A carrier of group contents (groups/group-pairwise.ts): no delivery events for the API. */
  silent: boolean;
}

/** Outbox entries since this process started, by what became of them (metrics). */
export interface OutboxTotals {
  /** Messages stored for sending (their batch durable). Carriers of group contents are not counted. */
  accepted: number;
  /** Messages an encrypted receipt confirmed. */
  delivered: number;
  /** Messages given up: too old (maxAgeMs) or their recipient's identity was replaced. */
  failed: number;
}

export class Outbox {
  readonly totals: OutboxTotals = { accepted: 0, delivered: 0, failed: 0 };
  private readonly entries = new Map<number, Entry>();
  private readonly byPeer = new Map<UserId, Set<number>>();
  private nextSeq = 1;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly relay: RelayTransport,
    private readonly emit: (e: DaemonEvent) => void,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY,
  ) {}

  /** Called from the retry timer with a peer whose messages stay unacknowledged (see stuckAfterPublishes). */
  onStuck: (peer: UserId) => void = () => undefined;
  /**
   * Called from the retry timer with a peer that has messages sent as a handshake (a session the peer
   * has not answered yet) which the broker took but no receipt answered, and since when the oldest
   * of them waits (the broker's first ack, ms): the sender decides whether the handshake was lost.
   */
  onUnanswered: (peer: UserId, waitingSince: number) => void = () => undefined;

  async load(): Promise<void> {
    for await (const rec of this.store.iterate('outbox')) {
      if (!rec.ok) {
        this.log.error({ code: rec.error.code }, 'an outbox record is corrupt; it is not resent');
        continue;
      }
      const r = decodeOutbox(rec.value);
      this.nextSeq = Math.max(this.nextSeq, parseCounterKey(rec.key) + 1);
      this.index(r, undefined, true);
    }
  }

  get depth(): number {
    return this.entries.size;
  }

  /** Entries to this peer still waiting for a receipt (it is offline, or its session is stuck). */
  pendingCount(peer: UserId): number {
    return this.byPeer.get(peer)?.size ?? 0;
  }

  /** When the oldest entry still waiting for its receipt was stored (ms), or undefined if none. */
  oldestCreatedAt(): number | undefined {
    let oldest: number | undefined;
    for (const e of this.entries.values()) if (oldest === undefined || e.createdAt < oldest) oldest = e.createdAt;
    return oldest;
  }

  private index(r: OutboxRecord, envelope: Uint8Array | undefined, durable: boolean): void {
    this.entries.set(r.seq, {
      seq: r.seq,
      to: r.to,
      messageId: toHex(r.messageId),
      contentSeq: r.contentSeq,
      createdAt: r.createdAt,
      acked: 0,
      firstAckedAt: undefined,
      handshake: isHandshake(r.envelope),
      nextRetryAt: 0,
      inFlight: false,
      durable,
      envelope,
      version: 0,
      silent: isGroupCarrier(r.content),
    });
    let set = this.byPeer.get(r.to);
    if (set === undefined) this.byPeer.set(r.to, (set = new Set()));
    set.add(r.seq);
  }

  private remove(seq: number): Entry | undefined {
    const e = this.entries.get(seq);
    if (e === undefined) return undefined;
    this.entries.delete(seq);
    const set = this.byPeer.get(e.to);
    set?.delete(seq);
    if (set?.size === 0) this.byPeer.delete(e.to);
    return e;
  }

  /** Adds an entry to tx; returns its seq. Indexed when staged, publishable once durable. */
  add(tx: Transaction, r: Omit<OutboxRecord, 'seq'>): number {
    const seq = this.nextSeq++;
    const rec: OutboxRecord = { seq, ...r };
    tx.put('outbox', counterKey(seq), encodeOutbox(rec));
    tx.onApply(() => this.index(rec, r.envelope, false));
    tx.onDurable(() => this.markDurable(seq, true));
    return seq;
  }

  private markDurable(seq: number, added = false): void {
    const e = this.entries.get(seq);
    if (e !== undefined) e.durable = true;
    if (added && e?.silent !== true) this.totals.accepted += 1;
  }

  /** Entries to this peer still waiting for a receipt, oldest first. */
  async pendingFor(peer: UserId): Promise<OutboxRecord[]> {
    const out: OutboxRecord[] = [];
    for (const seq of [...(this.byPeer.get(peer) ?? [])].sort((a, b) => a - b)) {
      const stored = await this.store.get('outbox', counterKey(seq));
      if (stored !== undefined) out.push(decodeOutbox(stored));
    }
    return out;
  }

  /** Rewrites an entry (new envelope and transcript seq after a session reset) in tx. */
  replace(tx: Transaction, r: OutboxRecord): void {
    tx.put('outbox', counterKey(r.seq), encodeOutbox(r));
    tx.onApply(() => {
      const e = this.entries.get(r.seq);
      if (e === undefined) return;
      e.contentSeq = r.contentSeq;
      e.envelope = r.envelope;
      e.acked = 0;
      e.firstAckedAt = undefined;
      e.handshake = isHandshake(r.envelope);
      e.nextRetryAt = 0;
      e.durable = false;
      e.version += 1;
    });
    tx.onDurable(() => this.markDurable(r.seq));
  }

  /** A receipt from `from` covering transcript seqs ≤ upToSeq: those entries are delivered. */
  delivered(tx: Transaction, from: UserId, upToSeq: number): void {
    const seqs = [...(this.byPeer.get(from) ?? [])].filter((s) => (this.entries.get(s)?.contentSeq ?? Infinity) <= upToSeq);
    this.finish(tx, seqs, 'delivered');
  }

  /** Gives up every entry to this peer (its identity was replaced: never re-encrypt for the new key). */
  failAllTo(tx: Transaction, peer: UserId): void {
    this.finish(tx, [...(this.byPeer.get(peer) ?? [])], 'failed');
  }

  /** Deletes the entries in `tx`; once it is durable, forgets them and reports their final state. */
  private finish(tx: Transaction, seqs: readonly number[], state: 'delivered' | 'failed'): void {
    for (const s of seqs) tx.del('outbox', counterKey(s));
    if (seqs.length === 0) return;
    tx.onDurable(() => {
      const at = this.now();
      for (const s of seqs) {
        const e = this.remove(s);
        if (e === undefined) continue;
        if (e.silent) continue;
        this.totals[state] += 1;
        this.emit({ kind: 'delivery', messageId: e.messageId, to: e.to, state, at });
      }
    });
  }

  /**
   * Publishes one entry now (unless a publish of it is in flight). Resolves when the broker acked or
   * the attempt failed; never rejects. With the envelope in memory (right after add) the relay
   * client is called synchronously, so calls made in order under the peer lock publish in order.
   * An entry replaced (re-encrypted after a reset) while its old envelope was in flight is
   * published again as soon as that publish completes: the old PUBACK says nothing about the new
   * envelope, which would otherwise wait for the retry timer (retryInitialMs).
   */
  publish(seq: number): Promise<void> {
    const e = this.entries.get(seq);
    if (e === undefined || e.inFlight || !e.durable) return Promise.resolve();
    e.inFlight = true;
    const version = e.version;
    const send = async (): Promise<void> => {
      const bytes = e.envelope ?? (await this.readEnvelope(seq));
      if (bytes === undefined) return;
      await this.relay.publishEnvelope(e.to, bytes);
    };
    return send().then(
      () => {
        e.inFlight = false;
        if (e.version !== version) return this.publish(seq);
        e.envelope = undefined;
        e.acked += 1;
        e.firstAckedAt ??= this.now();
        e.nextRetryAt = this.now() + Math.min(this.policy.retryMaxMs, this.policy.retryInitialMs * 2 ** (e.acked - 1));
        if (e.acked === 1 && this.entries.has(seq) && !e.silent) {
          this.emit({ kind: 'delivery', messageId: e.messageId, to: e.to, state: 'sent', at: this.now() });
        }
      },
      (err: unknown) => {
        e.inFlight = false;
        this.log.debug({ code: (err as { code?: unknown }).code }, 'outbox publish failed; will retry');
      },
    );
  }

  private async readEnvelope(seq: number): Promise<Uint8Array | undefined> {
    const stored = await this.store.get('outbox', counterKey(seq));
    return stored === undefined ? undefined : decodeOutbox(stored).envelope;
  }

  /** After a (re)connect: everything the broker has not acknowledged in this process, in order. */
  resendUnacknowledged(): void {
    const due = [...this.entries.values()].filter((e) => e.durable && e.acked === 0 && !e.inFlight).sort((a, b) => a.seq - b.seq);
    for (const e of due) void this.publish(e.seq);
  }

  /** Timer work: retransmit what is due, give up what is too old. */
  async tick(): Promise<void> {
    const now = this.now();
    const expired = [...this.entries.values()].filter((e) => now - e.createdAt > this.policy.maxAgeMs);
    if (expired.length > 0) {
      await this.store.batch(expired.map((e) => ({ type: 'del' as const, kind: 'outbox' as const, key: counterKey(e.seq) })));
      for (const e of expired) {
        if (this.remove(e.seq) !== undefined && !e.silent) this.totals.failed += 1;
        if (!e.silent) this.emit({ kind: 'delivery', messageId: e.messageId, to: e.to, state: 'failed', at: now });
      }
    }
    if (!this.relay.connected) return;
    const stuck = new Set<UserId>();
    const unanswered = new Map<UserId, number>();
    for (const e of this.entries.values()) {
      if (e.acked >= this.policy.stuckAfterPublishes) stuck.add(e.to);
      if (e.handshake && e.firstAckedAt !== undefined) unanswered.set(e.to, Math.min(e.firstAckedAt, unanswered.get(e.to) ?? Infinity));
    }
    for (const peer of stuck) this.onStuck(peer);
    for (const [peer, since] of unanswered) this.onUnanswered(peer, since);
    const due = [...this.entries.values()].filter((e) => e.durable && !e.inFlight && (e.acked === 0 || e.nextRetryAt <= now));
    for (const e of due.sort((a, b) => a.seq - b.seq)) void this.publish(e.seq);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.tick().catch((err: unknown) => this.log.error({ err }, 'outbox tick failed'));
    }, this.policy.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The envelope's kind byte (core/envelope.ts: version ‖ kind ‖ …): an X3DH or a PQXDH handshake. */
function isHandshake(envelope: Uint8Array): boolean {
  return envelope[1] === ENVELOPE_KIND_HANDSHAKE || envelope[1] === ENVELOPE_KIND_PQ_HANDSHAKE;
}
