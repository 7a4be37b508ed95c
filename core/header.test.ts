import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { DecodeError } from './errors.ts';
import { ENCRYPTED_HEADER_BYTES, decodeHeader, decryptHeader, encodeHeader, encryptHeader } from './header.ts';
import { checkX25519PublicKey } from './keys.ts';
import { HEADER_PADDED_SIZE } from './limits.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof DecodeError ? e.code : 'not a DecodeError';
  }
  return undefined;
};

describe('ratchet header', () => {
  it('encodes version, DHs, PN and N into exactly HEADER_PADDED_SIZE bytes and back', () => {
    const dh = crypto.x25519KeyPair().publicKey;
    const bytes = encodeHeader({ dh, pn: 0xfffffffe, n: 7 });
    expect(bytes.length).toBe(HEADER_PADDED_SIZE);
    expect(bytes[0]).toBe(1);
    const h = decodeHeader(bytes);
    expect(Buffer.from(h.dh).equals(Buffer.from(dh))).toBe(true);
    expect([h.pn, h.n]).toEqual([0xfffffffe, 7]);
  });

  it('rejects an unknown version, non-zero padding, a wrong length and a key with the top bit set', () => {
    const good = encodeHeader({ dh: crypto.x25519KeyPair().publicKey, pn: 1, n: 2 });
    const v2 = good.slice();
    v2[0] = 2;
    expect(codeOf(() => decodeHeader(v2))).toBe('UnsupportedVersion');
    const padded = good.slice();
    padded[HEADER_PADDED_SIZE - 1] = 1;
    expect(codeOf(() => decodeHeader(padded))).toBe('DecodeError');
    expect(codeOf(() => decodeHeader(good.subarray(1)))).toBe('DecodeError');
    const topBit = good.slice();
    topBit[32] = topBit[32]! | 0x80; // last byte of DHs (offset 1 + 31)
    expect(codeOf(() => decodeHeader(topBit))).toBe('InvalidKey');
    expect(codeOf(() => checkX25519PublicKey(new Uint8Array(31)))).toBe('InvalidKey');
  });

  it('is encrypted to a fixed size and opens only under its own key', () => {
    const hk = crypto.randomBytes(32);
    const h = { dh: crypto.x25519KeyPair().publicKey, pn: 3, n: 4 };
    const enc = encryptHeader(crypto, hk, crypto.randomBytes(24), h);
    expect(enc.length).toBe(ENCRYPTED_HEADER_BYTES);
    expect(decryptHeader(crypto, hk, enc)).toEqual(h);
    expect(decryptHeader(crypto, crypto.randomBytes(32), enc)).toBeNull();
    const flipped = enc.slice();
    flipped[40] = flipped[40]! ^ 1;
    expect(decryptHeader(crypto, hk, flipped)).toBeNull();
  });

  it('decoders fed arbitrary bytes throw only DecodeError', () => {
    const hk = crypto.randomBytes(32);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        for (const f of [() => decodeHeader(b), () => decryptHeader(crypto, hk, b)]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { seed: 42, numRuns: 1000 },
    );
  });
});
