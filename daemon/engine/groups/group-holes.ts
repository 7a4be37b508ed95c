/**
 * Holes in the senders' seq logs (core/group/seq-log.ts): a member that received a later message of a
 * sender but not an earlier one (a copy the relay dropped, or one that can never be read here) asks
 * that sender for it — a key request carrying its `haveUpToSeq`, answered with the sender's key from
 * its current step and a pairwise re-send of everything above — once the hole has outlived `waitMs`,
 * even when nothing more ever comes from that sender. Copies the relay merely reordered fill the hole
 * within the wait and cost nothing.
 *
 * In memory only: a restart re-reads the holes from the stored seq logs (`noteAll` at load) and
 * starts their wait again. Bounded: at most MAX_TRACKED_HOLES (group, sender) pairs (beyond that a
 * hole waits for the next message of its sender, or for the sender's own re-send of what this member
 * has not receipted), and at most MAX_HOLE_ASKS requests per hole, each after twice the previous wait.
 * The caller's timer (groups.ts) calls `due` with the engine clock and stops at close.
 */
import { missingSeqs, type SeqLog } from '../../../core/group/index.ts';
import type { UserId } from '../../../core/user-id.ts';

/** (group, sender) pairs with a hole tracked at most. */
export const MAX_TRACKED_HOLES = 10_000;
/** Requests for one hole at most (waitMs, 2·waitMs, 4·waitMs, … apart); then the sender's re-send covers it. */
export const MAX_HOLE_ASKS = 5;

interface Hole {
  readonly group: string;
  readonly sender: UserId;
  /** the log's upTo when the hole was seen: the wait restarts when it moves */
  readonly upTo: number;
  dueAt: number;
  asks: number;
}

export class GroupHoles {
  private readonly holes = new Map<string, Hole>();

  constructor(private readonly waitMs: number) {}

  get size(): number {
    return this.holes.size;
  }

  /** After a seq was recorded (or at load): starts, keeps or ends the wait for this log's lowest hole. */
  note(group: string, sender: UserId, log: SeqLog, now: number): void {
    const key = `${group}:${sender}`;
    if (missingSeqs(log).length === 0) {
      this.holes.delete(key);
      return;
    }
    const h = this.holes.get(key);
    if (h !== undefined && h.upTo === log.upTo) return;
    if (h === undefined && this.holes.size >= MAX_TRACKED_HOLES) return;
    this.holes.set(key, { group, sender, upTo: log.upTo, dueAt: now + this.waitMs, asks: 0 });
  }

  /** Stops tracking a sender (removed, or the group dropped) or a whole group (sender omitted). */
  forget(group: string, sender?: UserId): void {
    if (sender !== undefined) {
      this.holes.delete(`${group}:${sender}`);
      return;
    }
    for (const [k, h] of this.holes) if (h.group === group) this.holes.delete(k);
  }

  /** The holes whose wait is over: each counted as asked once more, and waited for again (doubled). */
  due(now: number): Array<{ group: string; sender: UserId }> {
    const out: Array<{ group: string; sender: UserId }> = [];
    for (const [k, h] of this.holes) {
      if (h.dueAt > now) continue;
      out.push({ group: h.group, sender: h.sender });
      h.asks += 1;
      if (h.asks >= MAX_HOLE_ASKS) this.holes.delete(k);
      else h.dueAt = now + this.waitMs * 2 ** h.asks;
    }
    return out;
  }
}
