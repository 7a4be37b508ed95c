import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { MAX_SKIPPED_KEYS_PER_SESSION, SKIPPED_KEY_MAX_AGE_MS } from './limits.ts';
import { EMPTY_STORE, addSkipped, expireSkipped, findSkipped, removeSkipped, skippedKeyCount, type SkippedKey } from './skipped-keys.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

const keys = (from: number, until: number, at = 0): SkippedKey[] => {
  const out: SkippedKey[] = [];
  for (let n = from; n < until; n++) out.push({ n, mk: new Uint8Array(32).fill(n & 0xff), at });
  return out;
};

describe('skipped-key store', () => {
  it('finds, removes, and leaves its input untouched', () => {
    const hk = crypto.randomBytes(32);
    const s1 = addSkipped(crypto, EMPTY_STORE, hk, 0, keys(0, 3));
    const found = findSkipped(crypto, s1, hk.slice(), 1);
    expect(found?.mk[0]).toBe(1);
    const s2 = removeSkipped(s1, found!.chain, found!.key);
    expect(skippedKeyCount(s2)).toBe(2);
    expect(skippedKeyCount(s1)).toBe(3);
    expect(findSkipped(crypto, s2, hk, 1)).toBeNull();
    expect(findSkipped(crypto, s2, crypto.randomBytes(32), 0)).toBeNull();
    const s3 = removeSkipped(removeSkipped(s2, 0, 0), 0, 0);
    expect(s3.length).toBe(0);
  });

  it('extends the newest chain when it has the same header key and step', () => {
    const hk = crypto.randomBytes(32);
    const s = addSkipped(crypto, addSkipped(crypto, EMPTY_STORE, hk, 2, keys(0, 2)), hk.slice(), 2, keys(5, 7));
    expect(s.length).toBe(1);
    expect(s[0]!.keys.map((k) => k.n)).toEqual([0, 1, 5, 6]);
  });

  it(`keeps at most ${MAX_SKIPPED_KEYS_PER_SESSION} keys, evicting the oldest first`, () => {
    const [a, b, c] = [crypto.randomBytes(32), crypto.randomBytes(32), crypto.randomBytes(32)];
    let s = addSkipped(crypto, EMPTY_STORE, a, 0, keys(0, 1000));
    s = addSkipped(crypto, s, b, 1, keys(0, 1000));
    expect(skippedKeyCount(s)).toBe(2000);
    s = addSkipped(crypto, s, c, 2, keys(0, 1500));
    expect(skippedKeyCount(s)).toBe(MAX_SKIPPED_KEYS_PER_SESSION);
    expect(findSkipped(crypto, s, a, 999)).toBeNull(); // chain a fully evicted
    expect(findSkipped(crypto, s, b, 499)).toBeNull(); // oldest half of chain b evicted
    expect(findSkipped(crypto, s, b, 500)).not.toBeNull();
    expect(findSkipped(crypto, s, c, 0)).not.toBeNull();
  });

  it('expires chains 5 DH steps old and keys older than 30 days; same object when nothing expires', () => {
    const [a, b] = [crypto.randomBytes(32), crypto.randomBytes(32)];
    let s = addSkipped(crypto, EMPTY_STORE, a, 1, keys(0, 2, 1000));
    s = addSkipped(crypto, s, b, 3, keys(0, 1, 5000));
    expect(expireSkipped(s, 5, 1000)).toBe(s);
    expect(skippedKeyCount(expireSkipped(s, 6, 1000))).toBe(1); // chain a: 6 - 1 = 5 steps
    expect(skippedKeyCount(expireSkipped(s, 5, 1000 + SKIPPED_KEY_MAX_AGE_MS))).toBe(3);
    expect(skippedKeyCount(expireSkipped(s, 5, 1001 + SKIPPED_KEY_MAX_AGE_MS))).toBe(1);
    expect(skippedKeyCount(expireSkipped(s, 5, 5001 + SKIPPED_KEY_MAX_AGE_MS))).toBe(0);
  });
});
