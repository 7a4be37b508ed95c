/**
 * The store of skipped message keys (DR §3.2 MKSKIPPED, keyed by header key as in §4 for header
 * encryption). Immutable: every operation returns a new store and leaves its input
 * as it was, so a failed decryption never loses a key.
 *
 * Shape: chains ordered oldest first; within a chain, keys in increasing N (the order they were
 * skipped). So "oldest" is always the first key of the first chain, and eviction is O(1) per key.
 * Bounds: at most MAX_SKIPPED_KEYS_PER_SESSION keys in all (oldest evicted); a chain is dropped once
 * SKIPPED_KEY_MAX_DH_STEPS receiving DH steps happened after it; a key is dropped after
 * SKIPPED_KEY_MAX_AGE_MS.
 */
import type { Crypto } from './crypto.ts';
import { MAX_SKIPPED_KEYS_PER_SESSION, SKIPPED_KEY_MAX_AGE_MS, SKIPPED_KEY_MAX_DH_STEPS } from './limits.ts';

export interface SkippedKey {
  /** N of the message this key decrypts */
  readonly n: number;
  /** MK (secret) */
  readonly mk: Uint8Array;
  /** when it was skipped (ms since epoch) */
  readonly at: number;
}

export interface SkippedChain {
  /** HKr of the receiving chain these keys belong to */
  readonly headerKey: Uint8Array;
  /** the receiving DH step counter while that chain was current */
  readonly dhStep: number;
  /** never empty */
  readonly keys: readonly SkippedKey[];
}

export type SkippedStore = readonly SkippedChain[];

export const EMPTY_STORE: SkippedStore = Object.freeze([]) as SkippedStore;

export function skippedKeyCount(store: SkippedStore): number {
  let n = 0;
  for (const chain of store) n += chain.keys.length;
  return n;
}

/** Index of the chain whose header key is `hk`, or -1. */
export function findChain(crypto: Crypto, store: SkippedStore, hk: Uint8Array): number {
  for (let i = 0; i < store.length; i++) if (crypto.equal(store[i]!.headerKey, hk)) return i;
  return -1;
}

/** The skipped key (hk, n), if kept. */
export function findSkipped(
  crypto: Crypto,
  store: SkippedStore,
  hk: Uint8Array,
  n: number,
): { chain: number; key: number; mk: Uint8Array } | null {
  const chain = findChain(crypto, store, hk);
  if (chain < 0) return null;
  const keys = store[chain]!.keys;
  for (let k = 0; k < keys.length; k++) if (keys[k]!.n === n) return { chain, key: k, mk: keys[k]!.mk };
  return null;
}

/** The store without one key (its chain dropped once empty). */
export function removeSkipped(store: SkippedStore, chainIndex: number, keyIndex: number): SkippedStore {
  const chain = store[chainIndex]!;
  const out = store.slice();
  if (chain.keys.length === 1) {
    out.splice(chainIndex, 1);
  } else {
    const keys = chain.keys.slice();
    keys.splice(keyIndex, 1);
    out[chainIndex] = { headerKey: chain.headerKey, dhStep: chain.dhStep, keys };
  }
  return out;
}

/**
 * Appends newly skipped keys of the chain `hk` (extending that chain if it is the newest one), then
 * evicts the oldest keys beyond MAX_SKIPPED_KEYS_PER_SESSION.
 */
export function addSkipped(
  crypto: Crypto,
  store: SkippedStore,
  hk: Uint8Array,
  dhStep: number,
  keys: readonly SkippedKey[],
): SkippedStore {
  if (keys.length === 0) return store;
  const out = store.slice();
  const last = out[out.length - 1];
  if (last !== undefined && last.dhStep === dhStep && crypto.equal(last.headerKey, hk)) {
    out[out.length - 1] = { headerKey: last.headerKey, dhStep, keys: last.keys.concat(keys) };
  } else {
    out.push({ headerKey: hk, dhStep, keys });
  }
  let excess = skippedKeyCount(out) - MAX_SKIPPED_KEYS_PER_SESSION;
  while (excess > 0) {
    const oldest = out[0]!;
    if (oldest.keys.length <= excess) {
      out.shift();
      excess -= oldest.keys.length;
    } else {
      out[0] = { headerKey: oldest.headerKey, dhStep: oldest.dhStep, keys: oldest.keys.slice(excess) };
      excess = 0;
    }
  }
  return out;
}

function isExpired(key: SkippedKey, now: number): boolean {
  return now - key.at > SKIPPED_KEY_MAX_AGE_MS;
}

/**
 * Drops chains SKIPPED_KEY_MAX_DH_STEPS or more receiving DH steps old, and keys older than
 * SKIPPED_KEY_MAX_AGE_MS. Returns the same store object when nothing expired (cheap common case).
 */
export function expireSkipped(store: SkippedStore, currentDhStep: number, now: number): SkippedStore {
  let changed = false;
  for (const chain of store) {
    if (currentDhStep - chain.dhStep >= SKIPPED_KEY_MAX_DH_STEPS || chain.keys.some((k) => isExpired(k, now))) {
      changed = true;
      break;
    }
  }
  if (!changed) return store;
  const out: SkippedChain[] = [];
  for (const chain of store) {
    if (currentDhStep - chain.dhStep >= SKIPPED_KEY_MAX_DH_STEPS) continue;
    const keys = chain.keys.filter((k) => !isExpired(k, now));
    if (keys.length === chain.keys.length) out.push(chain);
    else if (keys.length > 0) out.push({ headerKey: chain.headerKey, dhStep: chain.dhStep, keys });
  }
  return out;
}
