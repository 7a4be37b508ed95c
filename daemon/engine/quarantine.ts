/**
 * Envelopes held back instead of delivered: from a contact whose identity key
 * changed (until VerifyContact approves the new key), or for a peer whose stored state is corrupt.
 * They stay encrypted, exactly as received, and go through the normal receive path when released.
 *
 * Bounded, because an envelope may be held before anything authenticated it (a handshake only names
 * its sender, and with that sender's state corrupt nothing can check the claim), so anyone can make
 * the daemon hold envelopes "from X". Policy:
 *  - at most MAX_QUARANTINED_PER_PEER envelopes and MAX_QUARANTINED_BYTES_PER_PEER bytes per sender,
 *    and MAX_QUARANTINED_TOTAL envelopes and MAX_QUARANTINED_BYTES_TOTAL bytes in all;
 *  - first come, first held: an envelope that would pass any bound is dropped (acked to the broker,
 *    logged, counted), and nothing already held is ever evicted for it, so a flood cannot push out
 *    what was held before it;
 *  - dropping loses nothing a genuine sender cares about: its daemon re-sends every message until an
 *    encrypted receipt comes back, and nothing held is receipted before it is released.
 */
import type { Logger } from 'pino';
import type { UserId } from '../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import { decodeQuarantine, encodeQuarantine } from './records.ts';
import type { Transaction } from './transaction.ts';

/** Most envelopes held per sender: enough for a long outage of one contact, not a disk's worth. */
export const MAX_QUARANTINED_PER_PEER = 1000;
/** Most bytes held per sender (envelopes go up to ~300 KiB: the count alone would allow ~300 MB). */
export const MAX_QUARANTINED_BYTES_PER_PEER = 16 * 1024 * 1024;
/** Most envelopes held in all: many flooded names cannot add up past this. */
export const MAX_QUARANTINED_TOTAL = 10_000;
/** Most bytes held in all. */
export const MAX_QUARANTINED_BYTES_TOTAL = 64 * 1024 * 1024;

export interface QuarantineLimits {
  readonly perPeer: number;
  readonly bytesPerPeer: number;
  readonly total: number;
  readonly bytesTotal: number;
}

export const DEFAULT_QUARANTINE_LIMITS: QuarantineLimits = {
  perPeer: MAX_QUARANTINED_PER_PEER,
  bytesPerPeer: MAX_QUARANTINED_BYTES_PER_PEER,
  total: MAX_QUARANTINED_TOTAL,
  bytesTotal: MAX_QUARANTINED_BYTES_TOTAL,
};

/** One held envelope, as heldFrom returns it (pass it back to remove). */
export interface HeldEnvelope {
  readonly key: string;
  readonly envelope: Uint8Array;
}

interface Usage {
  count: number;
  bytes: number;
}

export class Quarantine {
  private nextSeq = 1;
  private readonly perPeer = new Map<UserId, Usage>();
  private readonly all: Usage = { count: 0, bytes: 0 };
  private droppedCount = 0;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly limits: QuarantineLimits = DEFAULT_QUARANTINE_LIMITS,
  ) {}

  async load(): Promise<void> {
    for await (const rec of this.store.iterate('quarantine')) {
      this.nextSeq = Math.max(this.nextSeq, rec.ok ? parseCounterKey(rec.key) + 1 : this.nextSeq);
      if (!rec.ok) continue;
      const q = decodeQuarantine(rec.value);
      this.account(q.from, q.envelope.length, +1);
    }
  }

  count(peer?: UserId): number {
    return peer === undefined ? this.all.count : (this.perPeer.get(peer)?.count ?? 0);
  }

  /** Bytes of envelopes held (from one sender, or in all). */
  bytes(peer?: UserId): number {
    return peer === undefined ? this.all.bytes : (this.perPeer.get(peer)?.bytes ?? 0);
  }

  /** Envelopes refused because a bound was reached (this process). */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Senders with held envelopes. */
  senders(): UserId[] {
    return [...this.perPeer.keys()];
  }

  /** Holds an envelope; false (nothing added, the envelope is dropped) when a bound would be passed. */
  add(tx: Transaction, from: UserId, envelope: Uint8Array, receivedAt: number): boolean {
    const mine = this.perPeer.get(from) ?? { count: 0, bytes: 0 };
    const size = envelope.length;
    const { perPeer, bytesPerPeer, total, bytesTotal } = this.limits;
    if (mine.count + 1 > perPeer || mine.bytes + size > bytesPerPeer || this.all.count + 1 > total || this.all.bytes + size > bytesTotal) {
      this.droppedCount += 1;
      // a flood reaches this on every envelope: log the 1st, 2nd, 4th, 8th… drop only
      if ((this.droppedCount & (this.droppedCount - 1)) === 0) {
        this.log.warn({ peer: from, dropped: this.droppedCount, held: this.all.count }, 'quarantine full; envelope dropped (its sender re-sends until a receipt)');
      }
      return false;
    }
    tx.put('quarantine', counterKey(this.nextSeq++), encodeQuarantine({ from, envelope, receivedAt }));
    tx.onApply(() => this.account(from, size, +1));
    return true;
  }

  /** The held envelopes of one sender, oldest first (a scan: releases are rare). */
  async heldFrom(peer: UserId): Promise<HeldEnvelope[]> {
    const out: HeldEnvelope[] = [];
    for await (const rec of this.store.iterate('quarantine')) {
      if (!rec.ok) continue;
      const q = decodeQuarantine(rec.value);
      if (q.from === peer) out.push({ key: rec.key, envelope: q.envelope });
    }
    return out;
  }

  async remove(peer: UserId, held: HeldEnvelope): Promise<void> {
    await this.store.del('quarantine', held.key);
    this.account(peer, held.envelope.length, -1);
  }

  private account(peer: UserId, size: number, sign: 1 | -1): void {
    const mine = this.perPeer.get(peer) ?? { count: 0, bytes: 0 };
    mine.count += sign;
    mine.bytes += sign * size;
    this.all.count += sign;
    this.all.bytes += sign * size;
    if (mine.count <= 0) this.perPeer.delete(peer);
    else this.perPeer.set(peer, mine);
  }
}
