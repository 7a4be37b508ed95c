/**
 * "At most once per interval for each peer", in bounded memory.
 *
 * An entry older than the interval no longer limits anything, so it is pruned (oldest first: entries
 * are kept in the order they were taken). Past `maxPeers` entries that are all still recent, take()
 * refuses: the action it guards is skipped, never forced, so a stream of distinct user ids cannot
 * grow the map, and the worst it can do is delay that action for other peers until entries age out.
 */
import type { UserId } from '../../core/user-id.ts';

/** Peers remembered at once by one limiter: far above what genuine traffic triggers in an interval. */
export const MAX_LIMITED_PEERS = 4096;

export class PerPeerInterval {
  /** Peer → when its action last ran, oldest first. */
  private readonly last = new Map<UserId, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxPeers = MAX_LIMITED_PEERS,
  ) {}

  /** True (and remembered) when the peer's last action is at least intervalMs old, or unknown. */
  take(peer: UserId, now: number): boolean {
    this.prune(now);
    const at = this.last.get(peer);
    if (at !== undefined && now - at < this.intervalMs) return false;
    if (at === undefined && this.last.size >= this.maxPeers) return false;
    this.last.delete(peer);
    this.last.set(peer, now);
    return true;
  }

  /**
   * Milliseconds until the peer's interval has passed: 0 when it has or the peer is not remembered,
   * never more than the interval (a clock set back does not stretch it). Takes nothing.
   */
  wait(peer: UserId, now: number): number {
    const at = this.last.get(peer);
    return at === undefined ? 0 : Math.min(this.intervalMs, Math.max(0, at + this.intervalMs - now));
  }

  /** Entries currently remembered (tests, status). */
  get size(): number {
    return this.last.size;
  }

  /** Drops the entries that no longer limit anything, oldest first, up to the first recent one. */
  private prune(now: number): void {
    for (const [peer, at] of this.last) {
      if (now - at < this.intervalMs) break;
      this.last.delete(peer);
    }
  }
}
