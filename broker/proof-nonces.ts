/**
 * Where the broker remembers CONNECT-proof nonces (replay protection) so that a captured proof
 * cannot log in twice — not after a broker restart (SIGTERM or SIGKILL), and not on another node of
 * a cluster. Each entry lives until the proof it came from can no longer verify (its timestamp plus
 * the skew window), then it is forgotten.
 *   - level: a sublevel of the broker's LevelDB, written (synced) before the login is accepted;
 *   - redis: `SET key 1 NX PX ttl` on the cluster's Redis, atomic across nodes;
 *   - memory: the in-process ReplayCache, plus a floor: proofs signed before this broker started
 *     are refused, since nothing remembers what was used before.
 *
 * Bounds (issue 10 item 5: a full cache used to refuse every login, so one identity logging in
 * ~400 times a second locked everyone out):
 *   - per identity, at most `maxPerIdentity` proofs remembered at once (on every variant; across the
 *     cluster with Redis): one more login of that identity is refused ('limited', CONNACK 3) until
 *     its older proofs age out. Nobody but the key holder can make that identity's proofs, and a
 *     replayed proof is refused before it is counted, so no one can throttle someone else;
 *   - in memory, `maxEntries` exact entries; past that (only many identities get there: the
 *     per-identity bound holds first) a login is never refused for lack of room: the LevelDB store
 *     answers from its database (which keeps every nonce until it expires), the memory store from a
 *     fixed-size filter (nonce-filter.ts: a replay is always refused, a fresh login rarely is).
 *     Redis holds every nonce; its memory is login rate × window × ~100 bytes.
 */
import type { AbstractBatchOptions } from 'abstract-level';
import type { Level } from 'level';
import type { Redis } from 'ioredis';
import { NonceFilter } from './nonce-filter.ts';
import { ReplayCache, type ReplayVerdict } from './replay-cache.ts';

export type { ReplayVerdict };

export interface ProofNonceStore {
  /**
   * Claims the nonce `key` of a proof of `identity` signed at `proofTimestamp`: 'fresh' only the
   * first time, 'replayed' after, 'limited' while the identity is at its bound.
   */
  claim(identity: string, key: string, proofTimestamp: number, now: number): Promise<ReplayVerdict>;
  /** Nonces remembered in memory (for logs). */
  readonly size: number;
}

export interface NonceBounds {
  /** Exact in-memory entries, at most. */
  readonly maxEntries: number;
  /** Remembered proofs of one identity, at most (all variants). */
  readonly maxPerIdentity: number;
  /** The proof skew window (ms): a nonce is kept until its proof's timestamp plus this. */
  readonly windowMs: number;
}

const KEY_PREFIX = 'ratchetd:proof-nonce:';
const IDENTITY_PREFIX = 'ratchetd:proof-logins:';
/** Expired LevelDB entries are deleted every this many writes. */
const PRUNE_EVERY = 1024;
/** LevelDB batch options of a claimed nonce: on disk (fsync) before the login is accepted (`sync` is classic-level's). */
const SYNCED_BATCH: AbstractBatchOptions<string, string> & { readonly sync: true } = { sync: true };

export function memoryProofNonces(bounds: NonceBounds, startedAt: number): ProofNonceStore {
  const cache = new ReplayCache(bounds.maxEntries, bounds.windowMs, bounds.maxPerIdentity);
  const overflow = new NonceFilter(bounds.windowMs);
  return {
    async claim(identity, key, proofTimestamp, now) {
      if (proofTimestamp < startedAt) return 'replayed';
      if (overflow.mayContain(key, now)) return 'replayed';
      const verdict = cache.check(identity, key, proofTimestamp, now);
      if (verdict !== 'unremembered') return verdict;
      overflow.add(key, now);
      return 'fresh';
    },
    get size() {
      return cache.size;
    },
  };
}

/** Zero-padded so that LevelDB's byte order is time order. */
const padTime = (ms: number): string => Math.max(0, Math.floor(ms)).toString().padStart(16, '0');

export function levelProofNonces(db: Level<string, string>, bounds: NonceBounds): ProofNonceStore {
  // nonce key → expiry (the lookup), and expiry!key → '' (what pruning walks, oldest first)
  const store = db.sublevel<string, string>('ratchetd-proof-nonces', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  const byExpiry = db.sublevel<string, string>('ratchetd-proof-nonce-expiry', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  // The in-memory cache answers fast for this run and counts per identity; the database answers for
  // proofs used before a restart and for those the full cache no longer holds.
  const cache = new ReplayCache(bounds.maxEntries, bounds.windowMs, bounds.maxPerIdentity);
  let writes = 0;
  let legacyPruned = false;
  async function prune(now: number): Promise<void> {
    // Pruning needs no sync: a delete lost in a crash is redone by the next prune.
    const expired: string[] = [];
    for await (const key of byExpiry.keys({ lt: padTime(now) })) expired.push(key);
    if (expired.length > 0) {
      await byExpiry.batch(expired.map((key) => ({ type: 'del' as const, key })));
      await store.batch(expired.map((key) => ({ type: 'del' as const, key: key.slice(key.indexOf('!') + 1) })));
    }
    // Once per run, one pass over everything: entries written before the expiry index existed.
    if (legacyPruned) return;
    legacyPruned = true;
    const legacy: string[] = [];
    for await (const [key, expiry] of store.iterator()) if (Number(expiry) < now) legacy.push(key);
    if (legacy.length > 0) await store.batch(legacy.map((key) => ({ type: 'del' as const, key })));
  }
  return {
    async claim(identity, key, proofTimestamp, now) {
      if (cache.has(key, now)) return 'replayed';
      const stored = await store.get(key);
      if (stored !== undefined && Number(stored) >= now) return 'replayed';
      const verdict = cache.check(identity, key, proofTimestamp, now);
      if (verdict === 'replayed' || verdict === 'limited') return verdict;
      const expiry = String(Math.max(proofTimestamp, now) + bounds.windowMs);
      // Synced, and both records in one batch: a login accepted on the strength of this write must
      // not be replayable after a power cut, and no nonce is left without its expiry record.
      await db.batch(
        [
          { type: 'put', key, value: expiry, sublevel: store },
          { type: 'put', key: `${padTime(Number(expiry))}!${key}`, value: '', sublevel: byExpiry },
        ],
        SYNCED_BATCH,
      );
      if (++writes % PRUNE_EVERY === 0) await prune(now);
      return 'fresh';
    },
    get size() {
      return cache.size;
    },
  };
}

/**
 * One round trip, atomic on Redis: refuse a known nonce; refuse an identity at its bound (its
 * remembered logins are a sorted set scored by expiry); else remember both.
 * KEYS: nonce key, identity key. ARGV: now, expiry (ms), bound, member. Returns 0 replayed, 1 fresh, 2 limited.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('SET', KEYS[1], '1', 'PX', math.max(1, expiry - now))
redis.call('ZADD', KEYS[2], expiry, ARGV[4])
if redis.call('PTTL', KEYS[2]) < expiry - now then redis.call('PEXPIRE', KEYS[2], math.max(1, expiry - now)) end
return 1
`;

export function redisProofNonces(redis: Redis, bounds: Pick<NonceBounds, 'maxPerIdentity' | 'windowMs'>): ProofNonceStore {
  let claimed = 0;
  return {
    async claim(identity, key, proofTimestamp, now) {
      const expiry = Math.max(proofTimestamp, now) + bounds.windowMs;
      const result = await redis.eval(CLAIM_SCRIPT, 2, KEY_PREFIX + key, IDENTITY_PREFIX + identity, now, expiry, bounds.maxPerIdentity, key);
      if (result === 0) return 'replayed';
      if (result === 2) return 'limited';
      claimed++;
      return 'fresh';
    },
    get size() {
      return claimed;
    },
  };
}
