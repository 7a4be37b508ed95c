/**
 * Where the broker remembers CONNECT-proof nonces (replay protection) so that a captured proof
 * cannot log in twice — not after a broker restart (SIGTERM or SIGKILL), and not on another node of
 * a cluster. Each entry lives until the proof it came from can no longer verify (its timestamp plus
 * the skew window), then it is forgotten.
 *   - level: a sublevel of the broker's LevelDB, written (synced) before the login is accepted;
 *   - redis: `SET key 1 NX PX ttl` on the cluster's Redis, atomic across nodes;
 *   - memory: the in-process ReplayCache, plus a floor: proofs signed before this broker started
 *     are refused, since nothing remembers what was used before.
 */
import type { Level } from 'level';
import type { Redis } from 'ioredis';
import { ReplayCache, type ReplayVerdict } from './replay-cache.ts';

export interface ProofNonceStore {
  /** Claims the nonce key for a proof signed at `proofTimestamp`; 'fresh' only the first time. */
  claim(key: string, proofTimestamp: number, now: number): Promise<ReplayVerdict>;
  readonly size: number;
}

const KEY_PREFIX = 'ratchetd:proof-nonce:';
const PRUNE_EVERY = 1024;

export function memoryProofNonces(maxEntries: number, windowMs: number, startedAt: number): ProofNonceStore {
  const cache = new ReplayCache(maxEntries, windowMs);
  return {
    claim: async (key, proofTimestamp, now) => (proofTimestamp < startedAt ? 'replayed' : cache.check(key, proofTimestamp, now)),
    get size() {
      return cache.size;
    },
  };
}

export function levelProofNonces(db: Level<string, string>, maxEntries: number, windowMs: number): ProofNonceStore {
  const store = db.sublevel<string, string>('ratchetd-proof-nonces', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  // The in-memory cache answers fast for this run; the database answers for proofs used before a restart.
  const cache = new ReplayCache(maxEntries, windowMs);
  let writes = 0;
  async function prune(now: number): Promise<void> {
    const stale: string[] = [];
    for await (const [key, expiry] of store.iterator()) if (Number(expiry) < now) stale.push(key);
    if (stale.length > 0) await store.batch(stale.map((key) => ({ type: 'del' as const, key })));
  }
  return {
    async claim(key, proofTimestamp, now) {
      const verdict = cache.check(key, proofTimestamp, now);
      if (verdict !== 'fresh') return verdict;
      const stored = await store.get(key);
      if (stored !== undefined && Number(stored) >= now) return 'replayed';
      await store.put(key, String(Math.max(proofTimestamp, now) + windowMs));
      if (++writes % PRUNE_EVERY === 0) await prune(now);
      return 'fresh';
    },
    get size() {
      return cache.size;
    },
  };
}

export function redisProofNonces(redis: Redis, windowMs: number): ProofNonceStore {
  let claimed = 0;
  return {
    async claim(key, proofTimestamp, now) {
      const ttl = Math.max(1, Math.max(proofTimestamp, now) + windowMs - now);
      const ok = await redis.set(KEY_PREFIX + key, '1', 'PX', ttl, 'NX');
      if (ok === null) return 'replayed';
      claimed++;
      return 'fresh';
    },
    get size() {
      return claimed;
    },
  };
}
