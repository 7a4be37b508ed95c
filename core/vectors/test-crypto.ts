/**
 * TEST ONLY. Crypto wrappers for tests and golden vectors: randomness scripted byte for byte, or
 * drawn from a seeded deterministic stream, and a wrapper that counts primitive calls. Never use
 * these outside tests: their "randomness" is predictable by design.
 */
import type { Crypto, KeyPair } from '../crypto.ts';

function withRandomness(base: Crypto, randomBytes: (n: number) => Uint8Array): Crypto {
  return {
    ...base,
    randomBytes,
    // crypto_box_keypair semantics: 32 random bytes, public = X25519 base point multiplication.
    x25519KeyPair: (): KeyPair => {
      const privateKey = randomBytes(32);
      return { privateKey, publicKey: base.x25519PublicKey(privateKey) };
    },
  };
}

/** randomBytes returns the scripted values in order; a call of another length, or past the end, throws. */
export function scriptedCrypto(base: Crypto, script: readonly Uint8Array[]): Crypto & { remaining(): number } {
  const queue = script.map((b) => b.slice());
  const crypto = withRandomness(base, (n) => {
    const next = queue.shift();
    if (next === undefined) throw new Error(`scripted randomness exhausted (wanted ${n} bytes)`);
    if (next.length !== n) throw new Error(`scripted randomness: wanted ${n} bytes, script has ${next.length}`);
    return next;
  });
  return { ...crypto, remaining: () => queue.length };
}

/** A reproducible stream: block i = HMAC(seed, "test-drbg" ‖ u32 i). Same seed, same run. */
export function seededCrypto(base: Crypto, seed: number): Crypto {
  const key = new Uint8Array(32);
  new DataView(key.buffer).setUint32(0, seed >>> 0);
  let counter = 0;
  let pool: Uint8Array = new Uint8Array(0);
  const label = new TextEncoder().encode('test-drbg');
  return withRandomness(base, (n) => {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      if (pool.length === 0) {
        const block = new Uint8Array(label.length + 4);
        block.set(label);
        new DataView(block.buffer).setUint32(label.length, counter++);
        pool = base.hmac(key, block);
      }
      const take = Math.min(pool.length, n - o);
      out.set(pool.subarray(0, take), o);
      pool = pool.subarray(take);
      o += take;
    }
    return out;
  });
}

export interface CallCounts {
  hmac: number;
  hkdf: number;
  x25519: number;
  x25519KeyPair: number;
  aeadEncrypt: number;
  aeadDecrypt: number;
  randomBytes: number;
  sha256: number;
}

/** Counts calls of the primitives that derive keys, hash or touch ciphertext. */
export function countingCrypto(base: Crypto): { crypto: Crypto; counts: CallCounts; reset(): void } {
  const counts: CallCounts = { hmac: 0, hkdf: 0, x25519: 0, x25519KeyPair: 0, aeadEncrypt: 0, aeadDecrypt: 0, randomBytes: 0, sha256: 0 };
  const crypto: Crypto = {
    ...base,
    hmac: (k, d) => (counts.hmac++, base.hmac(k, d)),
    hkdf: (s, i, info, l) => (counts.hkdf++, base.hkdf(s, i, info, l)),
    x25519: (sk, pk) => (counts.x25519++, base.x25519(sk, pk)),
    x25519KeyPair: () => (counts.x25519KeyPair++, base.x25519KeyPair()),
    aeadEncrypt: (k, n, p, a) => (counts.aeadEncrypt++, base.aeadEncrypt(k, n, p, a)),
    aeadDecrypt: (k, n, c, a) => (counts.aeadDecrypt++, base.aeadDecrypt(k, n, c, a)),
    randomBytes: (n) => (counts.randomBytes++, base.randomBytes(n)),
    sha256: (d) => (counts.sha256++, base.sha256(d)),
  };
  const reset = (): void => {
    for (const k of Object.keys(counts) as (keyof CallCounts)[]) counts[k] = 0;
  };
  return { crypto, counts, reset };
}
