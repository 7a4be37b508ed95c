/**
 * Known-answer tests of the primitives behind the Crypto interface:
 * HKDF RFC 5869 case 1, X25519 RFC 7748 §6.1, low-order points, and KDF_CK against libsignal's
 * chain-key vector (rust/protocol/src/ratchet/keys.rs, test_chain_key_derivation). Run against both
 * libsodium builds (WASM libsodium-wrappers and sodium-native).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Crypto } from '../core/crypto.ts';
import { kdfCk } from '../core/kdf.ts';
import { createNativeCrypto } from './native.ts';
import { createSodiumCrypto } from './sodium.ts';

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const providers: Record<string, Crypto> = {};
beforeAll(async () => {
  providers.wasm = await createSodiumCrypto();
  providers.native = createNativeCrypto();
});

describe.each(['wasm', 'native'])('%s provider', (name) => {
  let crypto: Crypto;
  beforeAll(() => {
    crypto = providers[name]!;
  });

  describe('HKDF-SHA256 (RFC 5869 test case 1)', () => {
    it('gives the RFC output keying material', () => {
      const ikm = new Uint8Array(22).fill(0x0b);
      const salt = unhex('000102030405060708090a0b0c');
      const info = unhex('f0f1f2f3f4f5f6f7f8f9');
      expect(hex(crypto.hkdf(salt, ikm, info, 42))).toBe(
        '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      );
      // PRK = HMAC(salt, IKM) of the same case pins the HMAC primitive too.
      expect(hex(crypto.hmac(salt, ikm))).toBe('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
    });
  });

  describe('X25519 (RFC 7748 §6.1)', () => {
    const alicePrivate = unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const alicePublic = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
    const bobPrivate = unhex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const bobPublic = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

    it('derives both public keys', () => {
      expect(hex(crypto.x25519PublicKey(alicePrivate))).toBe(alicePublic);
      expect(hex(crypto.x25519PublicKey(bobPrivate))).toBe(bobPublic);
    });

    it('gives the same shared secret on both sides', () => {
      expect(hex(crypto.x25519(alicePrivate, unhex(bobPublic)))).toBe(shared);
      expect(hex(crypto.x25519(bobPrivate, unhex(alicePublic)))).toBe(shared);
    });

    it('rejects low-order points (all-zero output) by throwing', () => {
      const lowOrder = [
        '0000000000000000000000000000000000000000000000000000000000000000', // 0
        '0100000000000000000000000000000000000000000000000000000000000000', // 1
        'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
        '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
        'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p - 1
        'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p
        'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1
      ];
      for (const point of lowOrder) {
        expect(() => crypto.x25519(alicePrivate, unhex(point)), point).toThrow();
      }
    });
  });

  describe('KDF_CK against libsignal test_chain_key_derivation', () => {
    const chainKey = unhex('8ab72d6f4cc5ac0d387eaf463378ddb28edd07385b1cb01250c715982e7ad48f');

    it('gives libsignal next chain key: CK′ = HMAC(CK, 0x02)', () => {
      expect(hex(kdfCk(crypto, chainKey).chainKey)).toBe('28e8f8fee54b801eef7c5cfb2f17f32c7b334485bbb70fac6ec10342a246d15d');
    });

    it('gives libsignal message key seed: MK = HMAC(CK, 0x01) expands to its cipher key, MAC key and IV', () => {
      const mk = kdfCk(crypto, chainKey).messageKey;
      // libsignal: HKDF(salt = none (= 0^32), MK, "WhisperMessageKeys", 80) = cipher key ‖ MAC key ‖ IV
      const keys = crypto.hkdf(new Uint8Array(32), mk, utf8('WhisperMessageKeys'), 80);
      expect(hex(keys.subarray(0, 32))).toBe('bf51e9d75e0e31031051f82a2491ffc084fa298b7793bd9db620056febf45217');
      expect(hex(keys.subarray(32, 64))).toBe('c6c77d6a73a354337a56435e34607dfe48e3ace14e77314dc6abc172e7a7030b');
      expect(hex(keys.subarray(64, 80))).toBe('afa8207986b692a116d4b40bbff72d6c');
    });
  });
});
