/**
 * Group copies and pairwise group contents that cannot be read yet: a copy whose sender key is still
 * on its way (its routing tag unknown), a content for a group not joined yet or a version not applied
 * yet, a message whose key this member asked its sender for. Stored in the batch that acks the
 * envelope, retried after every accepted key or applied version, in arrival order.
 *
 * Bounded (MAX_HELD_GROUP_ITEMS, oldest evicted, and HELD_GROUP_ITEM_MAX_AGE_MS). Nothing is lost by
 * an eviction: a sender re-sends, pairwise, every message a member has not receipted (groups.ts).
 * A copy with an unknown tag is not authenticated (anyone, the relay too, can send one): it is held
 * in memory only, within its own tighter bounds, and never written — unauthenticated input changes
 * no stored state. Losing it at a restart costs what an eviction costs: the sender's re-send.
 */
import type { Logger } from 'pino';
import type { UserId } from '../../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../../store/kinds.ts';
import type { Store } from '../../store/store.ts';
import type { Transaction } from '../transaction.ts';
import { decodeGroupHeld, encodeGroupHeld, type GroupHeldRecord } from './group-records.ts';

/** Held items kept at most: what a member offline through a burst of new keys might need. */
export const MAX_HELD_GROUP_ITEMS = 10_000;
/** A held item older than this is given up (its sender's re-send covers it). */
export const HELD_GROUP_ITEM_MAX_AGE_MS = 24 * 3600_000;
/** Unauthenticated copies (unknown tag) held in memory at most, by count and by bytes. */
export const MAX_UNAUTHENTICATED_HELD_ITEMS = 1_000;
export const MAX_UNAUTHENTICATED_HELD_BYTES = 16 * 1024 * 1024;

export class GroupHeld {
  private nextSeq = 1;
  private readonly items = new Map<number, GroupHeldRecord>();
  /** seqs of the items that are in the store (the rest are unauthenticated copies, in memory only) */
  private readonly stored = new Set<number>();
  private unauthenticatedBytes = 0;
  private unauthenticatedCount = 0;
  /** evicted or expired since start (reported in the log and metrics) */
  evicted = 0;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    for await (const rec of this.store.iterate('groupHeld')) {
      if (!rec.ok) {
        this.log.error({ code: rec.error.code }, 'a held group record is corrupt; it is skipped');
        continue;
      }
      const r = decodeGroupHeld(rec.value);
      this.nextSeq = Math.max(this.nextSeq, parseCounterKey(rec.key) + 1);
      this.items.set(r.seq, r);
      this.stored.add(r.seq);
    }
  }

  get size(): number {
    return this.items.size;
  }

  add(tx: Transaction, from: UserId | null, bytes: Uint8Array, now: number): void {
    if (from === null) {
      this.addUnauthenticated(tx, bytes, now);
      return;
    }
    while (this.items.size >= MAX_HELD_GROUP_ITEMS) {
      const oldest = this.items.values().next().value as GroupHeldRecord;
      this.remove(tx, oldest);
      this.evicted += 1;
      this.log.warn('held group items at their limit: the oldest is given up (its sender re-sends it)');
    }
    const r: GroupHeldRecord = { seq: this.nextSeq++, from, bytes: bytes.slice(), receivedAt: now };
    tx.put('groupHeld', counterKey(r.seq), encodeGroupHeld(r));
    this.items.set(r.seq, r);
    this.stored.add(r.seq);
  }

  /** A copy whose tag is unknown: in memory only, the oldest such copies evicted past their bounds. */
  private addUnauthenticated(tx: Transaction, bytes: Uint8Array, now: number): void {
    if (bytes.length > MAX_UNAUTHENTICATED_HELD_BYTES) return;
    for (const r of [...this.items.values()]) {
      if (this.unauthenticatedCount < MAX_UNAUTHENTICATED_HELD_ITEMS && this.unauthenticatedBytes + bytes.length <= MAX_UNAUTHENTICATED_HELD_BYTES) break;
      if (this.stored.has(r.seq)) continue;
      this.remove(tx, r);
      this.evicted += 1;
    }
    const r: GroupHeldRecord = { seq: this.nextSeq++, from: null, bytes: bytes.slice(), receivedAt: now };
    this.items.set(r.seq, r);
    this.unauthenticatedCount += 1;
    this.unauthenticatedBytes += r.bytes.length;
  }

  remove(tx: Transaction, r: GroupHeldRecord): void {
    if (!this.items.delete(r.seq)) return;
    if (this.stored.delete(r.seq)) {
      tx.del('groupHeld', counterKey(r.seq));
    } else {
      this.unauthenticatedCount -= 1;
      this.unauthenticatedBytes -= r.bytes.length;
    }
  }

  /** Oldest first; expired ones are removed in tx. */
  current(tx: Transaction, now: number): GroupHeldRecord[] {
    const out: GroupHeldRecord[] = [];
    for (const r of [...this.items.values()]) {
      if (now - r.receivedAt > HELD_GROUP_ITEM_MAX_AGE_MS) {
        this.remove(tx, r);
        this.evicted += 1;
      } else {
        out.push(r);
      }
    }
    return out;
  }
}
