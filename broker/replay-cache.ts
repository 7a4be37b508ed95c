/**
 * Remembers CONNECT-proof nonces for as long as a proof is fresh (the skew window either side), so a
 * captured proof cannot log in twice. Bounded: when full of unexpired entries it refuses new ones
 * (fail closed) rather than forgetting a nonce that could then be replayed.
 */
export type ReplayVerdict = 'fresh' | 'replayed' | 'full';

export class ReplayCache {
  /** key → time (ms) after which the proof is too old to verify, so the entry can go. Insertion-ordered. */
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly maxEntries: number,
    private readonly windowMs: number,
  ) {}

  /** Records the key unless it was seen within the window. `proofTimestamp` is the signed timestamp. */
  check(key: string, proofTimestamp: number, now: number): ReplayVerdict {
    this.evictExpired(now);
    const expiry = this.entries.get(key);
    if (expiry !== undefined) return 'replayed';
    if (this.entries.size >= this.maxEntries) return 'full';
    // The proof verifies until proofTimestamp + window; keep its nonce at least that long.
    this.entries.set(key, Math.max(proofTimestamp, now) + this.windowMs);
    return 'fresh';
  }

  get size(): number {
    return this.entries.size;
  }

  private evictExpired(now: number): void {
    // Expiries are nearly insertion-ordered (same window, timestamps close to now), so stop at the
    // first live entry; a rare out-of-order entry just lives a little longer.
    for (const [key, expiry] of this.entries) {
      if (expiry >= now) break;
      this.entries.delete(key);
    }
  }
}
