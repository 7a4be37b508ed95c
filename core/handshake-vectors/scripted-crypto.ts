/**
 * Test helper: a Crypto whose randomness is a deterministic stream, so X3DH and envelope outputs can be
 * frozen as golden vectors. Key pairs are derived from the stream (X25519: private = 32 stream bytes,
 * public = base point multiple; Ed25519: from a 32-byte stream seed; ML-KEM-768: from a 64-byte stream
 * seed, and encapsulation with 32 stream bytes as m). Every other primitive is the real one.
 * Never use outside tests.
 */
import type { Crypto, KeyPair } from '../crypto.ts';
import { utf8 } from '../bytes.ts';

export interface ScriptedCrypto extends Crypto {
  /** How many random bytes were drawn so far. */
  readonly drawn: () => number;
}

/** stream block i = HKDF(salt = "ratchetd-test/scripted", ikm = seed, info = u32(i), 64). */
export function scriptedCrypto(base: Crypto, seed: string): ScriptedCrypto {
  const salt = utf8.encode('ratchetd-test/scripted');
  const ikm = utf8.encode(seed);
  let block = 0;
  let buffer = new Uint8Array(0);
  let total = 0;
  const randomBytes = (n: number): Uint8Array => {
    while (buffer.length < n) {
      const info = Uint8Array.of(block >>> 24, (block >>> 16) & 0xff, (block >>> 8) & 0xff, block & 0xff);
      block += 1;
      const next = new Uint8Array(buffer.length + 64);
      next.set(buffer);
      next.set(base.hkdf(salt, ikm, info, 64), buffer.length);
      buffer = next;
    }
    const out = buffer.slice(0, n);
    buffer = buffer.slice(n);
    total += n;
    return out;
  };
  return {
    ...base,
    randomBytes,
    x25519KeyPair: (): KeyPair => {
      const privateKey = randomBytes(32);
      return { publicKey: base.x25519PublicKey(privateKey), privateKey };
    },
    ed25519KeyPair: (): KeyPair => base.ed25519KeyPairFromSeed(randomBytes(32)),
    kemKeyPair: (): KeyPair => base.kemKeyPairFromSeed(randomBytes(64)),
    kemEncapsulate: (publicKey) => base.kemEncapsulateWithRandomness(publicKey, randomBytes(32)),
    drawn: () => total,
  };
}
