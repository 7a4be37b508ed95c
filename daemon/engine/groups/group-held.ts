/**
 * Group copies and pairwise group contents that cannot be read yet: a copy whose sender key is still
 * on its way (its routing tag unknown), a content for a group not joined yet or a version not applied
 * yet, a message whose key this member asked its sender for. Stored in the batch that acks the
 * envelope, retried after every accepted key or applied version, in arrival order.
 *
 * Bounded (MAX_HELD_GROUP_ITEMS, oldest evicted, and HELD_GROUP_ITEM_MAX_AGE_MS): a copy with an
 * unknown tag is not authenticated, so a relay could fill this with noise. Nothing is lost by an
 * eviction: a sender re-sends, pairwise, every message a member has not receipted (groups.ts).
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

export class GroupHeld {
  private nextSeq = 1;
  private readonly items = new Map<number, GroupHeldRecord>();
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
    }
  }

  get size(): number {
    return this.items.size;
  }

  add(tx: Transaction, from: UserId | null, bytes: Uint8Array, now: number): void {
    while (this.items.size >= MAX_HELD_GROUP_ITEMS) {
      const oldest = this.items.values().next().value as GroupHeldRecord;
      this.remove(tx, oldest);
      this.evicted += 1;
      this.log.warn('held group items at their limit: the oldest is given up (its sender re-sends it)');
    }
    const r: GroupHeldRecord = { seq: this.nextSeq++, from, bytes: bytes.slice(), receivedAt: now };
    tx.put('groupHeld', counterKey(r.seq), encodeGroupHeld(r));
    this.items.set(r.seq, r);
  }

  remove(tx: Transaction, r: GroupHeldRecord): void {
    if (!this.items.delete(r.seq)) return;
    tx.del('groupHeld', counterKey(r.seq));
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
