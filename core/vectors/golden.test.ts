/**
 * Golden vectors (frozen): KDF_RK, KDF_CK, the message key, and a two-message conversation with every
 * random byte injected. The conversation is also re-derived here from the raw primitives, so the
 * format description at the top of ratchet.ts is checked, not just remembered. Both libsodium builds
 * must give the same bytes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../crypto.ts';
import { kdfCk, kdfRk, messageAeadKey } from '../kdf.ts';
import { decodeRatchetState, encodeRatchetState, initInitiator, initResponder, ratchetDecrypt, ratchetEncrypt } from '../ratchet.ts';
import { RATCHET_VECTORS as V } from './ratchet-vectors.ts';
import { runGoldenConversation } from './build-ratchet-vectors.ts';
import { dec, hex, unhex } from './ratchet-fixtures.ts';

const providers: Record<string, Crypto> = {};
beforeAll(async () => {
  providers.wasm = await createSodiumCrypto();
  providers.native = createNativeCrypto();
});

const c = V.conversation;

describe.each(['wasm', 'native'])('%s provider', (name) => {
  let crypto: Crypto;
  beforeAll(() => {
    crypto = providers[name]!;
  });

  describe('golden KDF vectors', () => {
    it('KDF_RK', () => {
      const r = kdfRk(crypto, unhex(V.kdfRk.rk), unhex(V.kdfRk.dh));
      expect([hex(r.rootKey), hex(r.chainKey), hex(r.nextHeaderKey)]).toEqual([V.kdfRk.rootKey, V.kdfRk.chainKey, V.kdfRk.nextHeaderKey]);
    });

    it('KDF_CK', () => {
      const r = kdfCk(crypto, unhex(V.kdfCk.ck));
      expect([hex(r.chainKey), hex(r.messageKey)]).toEqual([V.kdfCk.chainKey, V.kdfCk.messageKey]);
    });

    it('message key K', () => {
      expect(hex(messageAeadKey(crypto, unhex(V.messageKey.mk)))).toBe(V.messageKey.key);
    });
  });

  describe('golden conversation with injected randomness', () => {
    const run = () => runGoldenConversation(crypto);

    it('produces the frozen messages, header keys and states byte for byte', () => {
      const { e1, d1, e2, d2, ca, cb } = run();
      expect(hex(e1.message)).toBe(c.message1);
      expect(hex(e1.headerKey)).toBe(c.headerKey1);
      expect(hex(d1.plaintext)).toBe(c.plaintext1);
      expect(hex(e2.message)).toBe(c.message2);
      expect(hex(e2.headerKey)).toBe(c.headerKey2);
      expect(hex(d2.plaintext)).toBe(c.plaintext2);
      expect(hex(encodeRatchetState(e2.next))).toBe(c.responderStateAfterReply);
      expect(hex(encodeRatchetState(d2.next))).toBe(c.initiatorStateAfterReply);
      expect(ca.remaining()).toBe(0);
      expect(cb.remaining()).toBe(0);
      expect(dec(d1.plaintext)).toBe('ratchetd golden message 1');
    });

    it('the frozen states decode and re-encode to the same bytes', () => {
      for (const s of [c.responderStateAfterReply, c.initiatorStateAfterReply]) {
        expect(hex(encodeRatchetState(decodeRatchetState(unhex(s))))).toBe(s);
      }
    });

    it('the frozen states keep tag(HK) = HMAC(HK, "ratchetd-v1/route")[0..16] beside each header key', () => {
      const tag = (hk: Uint8Array): string => hex(crypto.hmac(hk, new TextEncoder().encode('ratchetd-v1/route')).subarray(0, 16));
      let checked = 0;
      for (const bytes of [c.responderStateAfterReply, c.initiatorStateAfterReply]) {
        const s = decodeRatchetState(unhex(bytes));
        const pairs: [Uint8Array | null, Uint8Array | null][] = [
          [s.hks, s.hksTag],
          [s.hkr, s.hkrTag],
          [s.nhkr, s.nhkrTag],
          ...s.retiredHeaderKeys.map((k, i): [Uint8Array, Uint8Array | null] => [k, s.retiredHeaderTags[i] ?? null]),
        ];
        for (const [key, t] of pairs) {
          expect(key === null).toBe(t === null);
          if (key !== null) {
            expect(hex(t!)).toBe(tag(key));
            checked++;
          }
        }
      }
      expect(checked).toBe(6); // each side: HKs, HKr, NHKr (no chain retired yet: each did one DH step from HKr = null)
    });

    it('message 1 matches the documented layout when re-derived from raw primitives', () => {
      const m = unhex(c.message1);
      const aad0 = new Uint8Array(0);
      const nonces = unhex(c.initiatorNonces);
      // encHeader = headerNonce ‖ AEAD(HKa, headerNonce, header)
      expect(hex(m.subarray(0, 24))).toBe(hex(nonces.subarray(0, 24)));
      const header = crypto.aeadDecrypt(unhex(c.sharedHeaderKeyA), m.subarray(0, 24), m.subarray(24, 88), aad0);
      expect(header).not.toBeNull();
      const alicePublic = crypto.x25519PublicKey(unhex(c.initiatorRatchetPrivate));
      // version 1 ‖ DHs ‖ PN = 0 ‖ N = 0 ‖ 7 zero bytes
      expect(hex(header!)).toBe('01' + hex(alicePublic) + '00000000' + '00000000' + '00'.repeat(7));
      // body: CKs from KDF_RK(SK, DH(DHs, SPK_B)); MK = HMAC(CKs, 0x01); K = HKDF(0^32, MK, "ratchetd-v1/DR-MK", 32)
      const spkPublic = crypto.x25519PublicKey(unhex(c.responderSignedPrekeyPrivate));
      const okm = crypto.hkdf(unhex(c.sharedSecret), crypto.x25519(unhex(c.initiatorRatchetPrivate), spkPublic), new TextEncoder().encode('ratchetd-v1/DR-RK'), 96);
      const mk = crypto.hmac(okm.subarray(32, 64), Uint8Array.of(1));
      const k = crypto.hkdf(new Uint8Array(32), mk, new TextEncoder().encode('ratchetd-v1/DR-MK'), 32);
      const ad = unhex(c.associatedData);
      const encHeader = m.subarray(0, 88);
      const aad = new Uint8Array([ad.length >> 8, ad.length & 0xff, ...ad, 0, 88, ...encHeader]);
      expect(hex(m.subarray(88, 112))).toBe(hex(nonces.subarray(24)));
      const padded = crypto.aeadDecrypt(k, m.subarray(88, 112), m.subarray(112), aad);
      expect(padded).not.toBeNull();
      expect(padded!.length).toBe(256);
      const p = unhex(c.plaintext1);
      expect(hex(padded!.subarray(0, p.length))).toBe(c.plaintext1);
      expect(padded![p.length]).toBe(0x80);
      expect(padded!.subarray(p.length + 1).every((b) => b === 0)).toBe(true);
      expect(m.length).toBe(88 + 24 + 256 + 16);
    });
  });
});
