/**
 * Remembers CONNECT-proof nonces for as long as a proof is fresh (the skew window either side), so a
 * captured proof cannot log in twice, with two bounds:
 *   - per identity: at most `maxPerIdentity` remembered proofs of one user id. One more login of
 *     that identity is refused ('limited') until its older proofs age out. Only the key holder can
 *     make proofs for an identity, so this throttles a looping daemon or a stolen key, never anyone
 *     else (a replayed proof is refused before it is counted);
 *   - in all: at most `maxEntries`. Past that the cache says 'unremembered' and the store behind it
 *     decides (proof-nonces.ts: the LevelDB keeps every nonce, the memory store a fixed-size filter),
 *     so a full cache no longer refuses everyone.
 */
export type ReplayVerdict = 'fresh' | 'replayed' | 'limited';
/** 'unremembered': not seen here, within its identity's bound, but no room left to remember it. */
export type CacheVerdict = ReplayVerdict | 'unremembered';

interface Entry {
  readonly identity: string;
  /** Time (ms) after which the proof is too old to verify, so the entry can go. */
  readonly expiry: number;
}

/** Future-dated entries are swept by a full pass, at most this often (ms); they are rare (clock skew). */
const AHEAD_SWEEP_MS = 1000;

export class ReplayCache {
  /** Entries of proofs not dated in the future: expiry = insertion time + window, so insertion-ordered. */
  private readonly inOrder = new Map<string, Entry>();
  /** Entries of future-dated proofs (expiry = timestamp + window): out of order, swept as a whole. */
  private readonly ahead = new Map<string, Entry>();
  /** identity → its remembered entries (absent = none). */
  private readonly perIdentity = new Map<string, number>();
  private lastAheadSweep = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxEntries: number,
    private readonly windowMs: number,
    private readonly maxPerIdentity: number = Number.MAX_SAFE_INTEGER,
  ) {}

  /** True if the key is remembered (a replay). */
  has(key: string, now: number): boolean {
    this.evictExpired(now);
    return this.inOrder.has(key) || this.ahead.has(key);
  }

  /** Records the key unless it was seen within the window. `proofTimestamp` is the signed timestamp. */
  check(identity: string, key: string, proofTimestamp: number, now: number): CacheVerdict {
    if (this.has(key, now)) return 'replayed';
    const held = this.perIdentity.get(identity) ?? 0;
    if (held >= this.maxPerIdentity) return 'limited';
    if (this.size >= this.maxEntries) return 'unremembered';
    // The proof verifies until proofTimestamp + window; keep its nonce at least that long.
    const entry: Entry = { identity, expiry: Math.max(proofTimestamp, now) + this.windowMs };
    (proofTimestamp > now ? this.ahead : this.inOrder).set(key, entry);
    this.perIdentity.set(identity, held + 1);
    return 'fresh';
  }

  get size(): number {
    return this.inOrder.size + this.ahead.size;
  }

  /** Remembered proofs of one identity. */
  heldBy(identity: string): number {
    return this.perIdentity.get(identity) ?? 0;
  }

  private forget(map: Map<string, Entry>, key: string, entry: Entry): void {
    map.delete(key);
    const held = (this.perIdentity.get(entry.identity) ?? 1) - 1;
    if (held <= 0) this.perIdentity.delete(entry.identity);
    else this.perIdentity.set(entry.identity, held);
  }

  private evictExpired(now: number): void {
    // Same window, insertion times in order: stop at the first live entry.
    for (const [key, entry] of this.inOrder) {
      if (entry.expiry >= now) break;
      this.forget(this.inOrder, key, entry);
    }
    if (this.ahead.size === 0 || now - this.lastAheadSweep < AHEAD_SWEEP_MS) return;
    this.lastAheadSweep = now;
    for (const [key, entry] of this.ahead) if (entry.expiry < now) this.forget(this.ahead, key, entry);
  }
}
