import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { fromHex } from './bytes.ts';
import {
  KEY_TYPE_ED25519,
  KEY_TYPE_X25519,
  checkX25519PublicKey,
  decodeEd25519PublicKey,
  decodeX25519PublicKey,
  dh,
  encodeEd25519PublicKey,
  encodeX25519PublicKey,
  identityDhPublic,
  redacted,
} from './keys.ts';
import { codeOf, fuzzDecoder } from './handshake-vectors/test-helpers.ts';
import { inspect } from 'node:util';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe('key encodings', () => {
  it('round-trips Ed25519 and X25519 public keys with their type bytes', () => {
    const ed = crypto.ed25519KeyPair().publicKey;
    const x = crypto.x25519KeyPair().publicKey;
    const encEd = encodeEd25519PublicKey(ed);
    const encX = encodeX25519PublicKey(x);
    expect(encEd.length).toBe(33);
    expect(encEd[0]).toBe(KEY_TYPE_ED25519);
    expect(encX[0]).toBe(KEY_TYPE_X25519);
    expect(decodeEd25519PublicKey(encEd)).toEqual(ed);
    expect(decodeX25519PublicKey(encX)).toEqual(x);
  });

  it('keeps the two key types disjoint', () => {
    const x = encodeX25519PublicKey(crypto.x25519KeyPair().publicKey);
    const ed = encodeEd25519PublicKey(crypto.ed25519KeyPair().publicKey);
    expect(codeOf(() => decodeEd25519PublicKey(x))).toBe('InvalidKey');
    expect(codeOf(() => decodeX25519PublicKey(ed))).toBe('InvalidKey');
  });

  it('checks every length exactly', () => {
    const x = encodeX25519PublicKey(crypto.x25519KeyPair().publicKey);
    for (const bad of [x.slice(0, 32), new Uint8Array([...x, 0]), new Uint8Array(0)]) {
      expect(codeOf(() => decodeX25519PublicKey(bad))).toBe('InvalidKey');
      expect(codeOf(() => decodeEd25519PublicKey(bad))).toBe('InvalidKey');
    }
    expect(codeOf(() => checkX25519PublicKey(new Uint8Array(31)))).toBe('InvalidKey');
  });

  it('refuses an X25519 key with the top bit set', () => {
    const raw = crypto.x25519KeyPair().publicKey.slice();
    raw[31] = raw[31]! | 0x80;
    expect(codeOf(() => checkX25519PublicKey(raw))).toBe('InvalidKey');
    expect(codeOf(() => decodeX25519PublicKey(Uint8Array.of(KEY_TYPE_X25519, ...raw)))).toBe('InvalidKey');
  });

  it('refuses every small-order point, which libsodium also refuses in X25519', () => {
    const priv = crypto.x25519KeyPair().privateKey;
    for (const h of SMALL_ORDER) {
      const p = fromHex(h);
      expect(codeOf(() => checkX25519PublicKey(p))).toBe('InvalidKey');
      expect(() => crypto.x25519(priv, p)).toThrow();
    }
  });

  it('dh agrees on both sides and maps a refused agreement to InvalidKey', () => {
    const a = crypto.x25519KeyPair();
    const b = crypto.x25519KeyPair();
    expect(dh(crypto, a.privateKey, b.publicKey)).toEqual(dh(crypto, b.privateKey, a.publicKey));
    expect(codeOf(() => dh(crypto, a.privateKey, fromHex(SMALL_ORDER[2]!)))).toBe('InvalidKey');
  });

  it('refuses an Ed25519 identity key that is not a usable point', () => {
    // y = 2 is not on the curve (no x satisfies the equation)
    const notAPoint = new Uint8Array(32);
    notAPoint[0] = 2;
    expect(codeOf(() => identityDhPublic(crypto, notAPoint))).toBe('InvalidKey');
    const ed = crypto.ed25519KeyPair().publicKey;
    expect(identityDhPublic(crypto, ed)).toEqual(crypto.ed25519PublicToX25519(ed));
  });

  it('identityDhPublic converts each key once per Crypto, by its bytes, and hands out independent copies', () => {
    let conversions = 0;
    const counting: Crypto = { ...crypto, ed25519PublicToX25519: (pk) => (conversions++, crypto.ed25519PublicToX25519(pk)) };
    const ed = crypto.ed25519KeyPair().publicKey;
    const expected = Array.from(crypto.ed25519PublicToX25519(ed));
    const first = identityDhPublic(counting, ed);
    first.fill(0); // a caller scribbling on its copy changes nothing for the next one
    const second = identityDhPublic(counting, ed.slice()); // another array with the same bytes
    expect(Array.from(second)).toEqual(expected);
    expect(conversions).toBe(1);
    // the same array object, now holding another key: converted again, never served from the old entry
    const other = crypto.ed25519KeyPair().publicKey;
    const mutable = ed.slice();
    identityDhPublic(counting, mutable);
    mutable.set(other);
    expect(Array.from(identityDhPublic(counting, mutable))).toEqual(Array.from(crypto.ed25519PublicToX25519(other)));
    expect(conversions).toBe(2);
    // another Crypto instance does not share the results (a refusing one refuses)
    const refusing: Crypto = { ...crypto, ed25519PublicToX25519: () => { throw new Error('refused'); } };
    expect(codeOf(() => identityDhPublic(refusing, ed))).toBe('InvalidKey');
    // failures are not remembered
    const notAPoint = new Uint8Array(32);
    notAPoint[0] = 2;
    for (let i = 0; i < 2; i++) expect(codeOf(() => identityDhPublic(counting, notAPoint))).toBe('InvalidKey');
    expect(conversions).toBe(4);
  });

  it('decoders throw only DecodeError on arbitrary bytes (seed 42)', () => {
    fuzzDecoder(decodeX25519PublicKey, [encodeX25519PublicKey(crypto.x25519KeyPair().publicKey)]);
    fuzzDecoder(decodeEd25519PublicKey, [encodeEd25519PublicKey(crypto.ed25519KeyPair().publicKey)]);
  });

  it('objects marked redacted print without their bytes', () => {
    const kp = redacted({ publicKey: new Uint8Array(32), privateKey: new Uint8Array(32).fill(7) });
    expect(inspect(kp)).toBe('[redacted]');
    expect(JSON.stringify({ kp })).toBe('{"kp":"[redacted]"}');
    expect(String(kp)).toBe('[redacted]');
  });
});
