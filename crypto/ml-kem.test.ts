/**
 * ML-KEM-768 behind the Crypto interface, on both providers (the native one delegates the KEM to the
 * WASM build): FIPS 203 known answers (accumulated vectors pinned by the Go standard library, C2SP
 * CCTV strcmp decapsulation vectors and modulus-check failures, fixtures/ml-kem/README.md), an
 * independent cross-check against @noble/post-quantum on 1,000 random key pairs and encapsulations,
 * and tampered ciphertexts and public keys.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Crypto } from '../core/crypto.ts';
import { createNativeCrypto } from './native.ts';
import { createSodiumCrypto } from './sodium.ts';
import { ML_KEM_768_CIPHERTEXT_BYTES, ML_KEM_768_PRIVATE_KEY_BYTES, ML_KEM_768_PUBLIC_KEY_BYTES } from './ml-kem-wasm.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const fixture = (name: string): string => readFileSync(new URL(`./fixtures/ml-kem/${name}`, import.meta.url), 'utf8');

const providers: Record<string, Crypto> = {};
beforeAll(async () => {
  providers.wasm = await createSodiumCrypto();
  providers.native = createNativeCrypto();
});

/** Go's crypto/mlkem TestAccumulated, driven through the Crypto interface. */
function accumulated(c: Crypto, n: number): string {
  const perTest = 64 + 32 + ML_KEM_768_CIPHERTEXT_BYTES;
  const stream = createHash('shake128', { outputLength: n * perTest }).digest();
  const out = createHash('shake128', { outputLength: 32 });
  let at = 0;
  const take = (k: number): Uint8Array => stream.subarray(at, (at += k));
  for (let i = 0; i < n; i++) {
    const kp = c.kemKeyPairFromSeed(take(64));
    out.update(kp.publicKey);
    const e = c.kemEncapsulateWithRandomness(kp.publicKey, take(32));
    out.update(e.ciphertext).update(e.sharedSecret);
    if (hex(c.kemDecapsulate(e.ciphertext, kp.privateKey)) !== hex(e.sharedSecret)) throw new Error(`test ${i}: decapsulation disagrees`);
    out.update(c.kemDecapsulate(take(ML_KEM_768_CIPHERTEXT_BYTES), kp.privateKey));
  }
  return out.digest('hex');
}

interface StrcmpVector {
  dk: Uint8Array;
  c: Uint8Array;
  K: Uint8Array;
}

function strcmpVectors(): StrcmpVector[] {
  const vectors: StrcmpVector[] = [];
  let current: Partial<StrcmpVector> = {};
  for (const line of fixture('cctv-strcmp-ML-KEM-768.txt').split('\n')) {
    const m = /^(dk|c|K) = ([0-9a-f]+)$/.exec(line.trim());
    if (m === null) continue;
    current[m[1] as keyof StrcmpVector] = unhex(m[2]!);
    if (m[1] === 'K') {
      vectors.push(current as StrcmpVector);
      current = {};
    }
  }
  return vectors;
}

describe.each(['wasm', 'native'])('ML-KEM-768 on the %s provider', (name) => {
  const c = (): Crypto => providers[name]!;

  it('has the FIPS 203 sizes', () => {
    const kp = c().kemKeyPair();
    expect(kp.publicKey.length).toBe(ML_KEM_768_PUBLIC_KEY_BYTES);
    expect(kp.privateKey.length).toBe(ML_KEM_768_PRIVATE_KEY_BYTES);
    const e = c().kemEncapsulate(kp.publicKey);
    expect(e.ciphertext.length).toBe(ML_KEM_768_CIPHERTEXT_BYTES);
    expect(e.sharedSecret.length).toBe(32);
    expect(hex(c().kemDecapsulate(e.ciphertext, kp.privateKey))).toBe(hex(e.sharedSecret));
  });

  it('matches the accumulated FIPS 203 vectors (100 tests)', () => {
    expect(accumulated(c(), 100)).toBe('1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415');
  });

  it('decapsulates the C2SP strcmp vectors to their known secrets', () => {
    const vectors = strcmpVectors();
    expect(vectors.length).toBeGreaterThan(0);
    for (const v of vectors) expect(hex(c().kemDecapsulate(v.c, v.dk))).toBe(hex(v.K));
  });

  it('refuses encapsulation keys that fail the modulus check', () => {
    const keys = fixture('cctv-modulus-ML-KEM-768-subset.txt').trim().split('\n').map((l) => unhex(l.trim()));
    expect(keys).toHaveLength(8);
    for (const ek of keys) {
      expect(ek.length).toBe(ML_KEM_768_PUBLIC_KEY_BYTES);
      expect(() => c().kemEncapsulate(ek)).toThrow(RangeError);
    }
  });

  it('refuses wrong lengths with a RangeError', () => {
    const kp = c().kemKeyPair();
    const e = c().kemEncapsulate(kp.publicKey);
    expect(() => c().kemEncapsulate(kp.publicKey.subarray(1))).toThrow(RangeError);
    expect(() => c().kemDecapsulate(e.ciphertext.subarray(1), kp.privateKey)).toThrow(RangeError);
    expect(() => c().kemDecapsulate(e.ciphertext, kp.privateKey.subarray(1))).toThrow(RangeError);
    expect(() => c().kemKeyPairFromSeed(new Uint8Array(32))).toThrow(RangeError);
  });

  it('a tampered ciphertext decapsulates to another secret (implicit rejection), the same one every time', () => {
    const kp = c().kemKeyPair();
    const e = c().kemEncapsulate(kp.publicKey);
    for (const at of [0, 1, 500, ML_KEM_768_CIPHERTEXT_BYTES - 1]) {
      const bad = e.ciphertext.slice();
      bad[at]! ^= 0x01;
      const k1 = c().kemDecapsulate(bad, kp.privateKey);
      expect(hex(k1)).not.toBe(hex(e.sharedSecret));
      expect(hex(c().kemDecapsulate(bad, kp.privateKey))).toBe(hex(k1));
      // FIPS 203's rejection secret is J(z ‖ c): the independent implementation agrees on it.
      expect(hex(ml_kem768.decapsulate(bad, kp.privateKey))).toBe(hex(k1));
    }
  });

  it('a tampered public key yields a secret its owner does not get', () => {
    const kp = c().kemKeyPair();
    // The last 32 bytes are ρ (the seed of Â): any change still passes the input checks.
    const bad = kp.publicKey.slice();
    bad[ML_KEM_768_PUBLIC_KEY_BYTES - 5]! ^= 0x01;
    const e = c().kemEncapsulate(bad);
    expect(hex(c().kemDecapsulate(e.ciphertext, kp.privateKey))).not.toBe(hex(e.sharedSecret));
    // A changed coefficient either fails the modulus check or, likewise, gives a useless secret.
    const coefficient = kp.publicKey.slice();
    coefficient[0]! ^= 0x01;
    try {
      const f = c().kemEncapsulate(coefficient);
      expect(hex(c().kemDecapsulate(f.ciphertext, kp.privateKey))).not.toBe(hex(f.sharedSecret));
    } catch (err) {
      expect(err).toBeInstanceOf(RangeError);
    }
  });
});

describe('ML-KEM-768 against @noble/post-quantum', () => {
  it('1,000 random key pairs and encapsulations agree byte for byte, both ways', () => {
    const c = providers.wasm!;
    for (let i = 0; i < 1000; i++) {
      const seed = c.randomBytes(64);
      const ours = c.kemKeyPairFromSeed(seed);
      const theirs = ml_kem768.keygen(seed);
      expect(hex(ours.publicKey)).toBe(hex(theirs.publicKey));
      expect(hex(ours.privateKey)).toBe(hex(theirs.secretKey));
      const m = c.randomBytes(32);
      const e = c.kemEncapsulateWithRandomness(ours.publicKey, m);
      const n = ml_kem768.encapsulate(theirs.publicKey, m);
      expect(hex(e.ciphertext)).toBe(hex(n.cipherText));
      expect(hex(e.sharedSecret)).toBe(hex(n.sharedSecret));
      // Random encapsulations cross the implementations: ours → theirs and theirs → ours.
      const r = c.kemEncapsulate(ours.publicKey);
      expect(hex(ml_kem768.decapsulate(r.ciphertext, theirs.secretKey))).toBe(hex(r.sharedSecret));
      const t = ml_kem768.encapsulate(theirs.publicKey);
      expect(hex(c.kemDecapsulate(t.cipherText, ours.privateKey))).toBe(hex(t.sharedSecret));
    }
  }, 120_000);

  it('matches the accumulated FIPS 203 vectors (10,000 tests)', () => {
    expect(accumulated(providers.wasm!, 10_000)).toBe('8a518cc63da366322a8e7a818c7a0d63483cb3528d34a4cf42f35d5ad73f22fc');
  }, 120_000);
});
