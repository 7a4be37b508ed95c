import { createHmac, hkdfSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { kdfCk, kdfRk, messageAeadKey } from './kdf.ts';
import { hex } from './vectors/ratchet-fixtures.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

// Independent re-derivation with node:crypto directly, so the labels and splits are checked against the
// definitions rather than against the implementation itself.
describe('Double Ratchet KDFs follow their definitions (README: the protocol on one page)', () => {
  it('KDF_RK = HKDF(salt = RK, ikm = dh, "ratchetd-v1/DR-RK", 96) split RK′ ‖ CK ‖ NHK', () => {
    const rk = crypto.randomBytes(32);
    const dh = crypto.randomBytes(32);
    const okm = Buffer.from(hkdfSync('sha256', dh, rk, 'ratchetd-v1/DR-RK', 96));
    const r = kdfRk(crypto, rk, dh);
    expect(hex(r.rootKey)).toBe(okm.subarray(0, 32).toString('hex'));
    expect(hex(r.chainKey)).toBe(okm.subarray(32, 64).toString('hex'));
    expect(hex(r.nextHeaderKey)).toBe(okm.subarray(64, 96).toString('hex'));
  });

  it('KDF_RK outputs are independent buffers: zeroing one leaves the others', () => {
    const r = kdfRk(crypto, crypto.randomBytes(32), crypto.randomBytes(32));
    const chain = hex(r.chainKey);
    const next = hex(r.nextHeaderKey);
    crypto.zero(r.rootKey);
    expect(hex(r.chainKey)).toBe(chain);
    expect(hex(r.nextHeaderKey)).toBe(next);
  });

  it('KDF_CK: CK′ = HMAC(CK, 0x02), MK = HMAC(CK, 0x01), and they differ', () => {
    const ck = crypto.randomBytes(32);
    const r = kdfCk(crypto, ck);
    expect(hex(r.chainKey)).toBe(createHmac('sha256', ck).update(Uint8Array.of(2)).digest('hex'));
    expect(hex(r.messageKey)).toBe(createHmac('sha256', ck).update(Uint8Array.of(1)).digest('hex'));
    expect(hex(r.chainKey)).not.toBe(hex(r.messageKey));
  });

  it('K = HKDF(0^32, MK, "ratchetd-v1/DR-MK", 32)', () => {
    const mk = crypto.randomBytes(32);
    const expected = Buffer.from(hkdfSync('sha256', mk, new Uint8Array(32), 'ratchetd-v1/DR-MK', 32)).toString('hex');
    expect(hex(messageAeadKey(crypto, mk))).toBe(expected);
    expect(hex(messageAeadKey(crypto, mk))).not.toBe(hex(mk));
  });
});
