import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { fromHex, utf8 } from './bytes.ts';
import { createIdentity } from './identity.ts';
import {
  SAFETY_NUMBER_DIGITS,
  combineFingerprints,
  fingerprintDigits,
  formatSafetyNumber,
  normalizeSafetyNumber,
  safetyNumber,
} from './safety-number.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

describe('safety numbers', () => {
  it("matches libsignal's displayable fingerprint vector (same algorithm shape, 5200 iterations)", () => {
    // libsignal rust/protocol/src/fingerprint.rs fingerprint_test_v1: 0x05-prefixed Curve25519 keys, phone numbers
    const aliceKey = fromHex('0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868');
    const bobKey = fromHex('05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b');
    const alice = fingerprintDigits(crypto, utf8.encode('+14152222222'), aliceKey);
    const bob = fingerprintDigits(crypto, utf8.encode('+14153333333'), bobKey);
    expect(combineFingerprints(alice, bob)).toBe('300354477692869396892869876765458257569162576843440918079131');
    expect(combineFingerprints(bob, alice)).toBe('300354477692869396892869876765458257569162576843440918079131');
  });

  it('is the same 60 digits on both sides', () => {
    const a = createIdentity(crypto);
    const b = createIdentity(crypto);
    const pa = { userId: a.userId, identityKey: a.keyPair.publicKey };
    const pb = { userId: b.userId, identityKey: b.keyPair.publicKey };
    const n = safetyNumber(crypto, pa, pb);
    expect(n).toMatch(/^\d{60}$/);
    expect(n.length).toBe(SAFETY_NUMBER_DIGITS);
    expect(safetyNumber(crypto, pb, pa)).toBe(n);
  });

  it('changes when either identity key changes (a man in the middle shows)', () => {
    const a = createIdentity(crypto);
    const b = createIdentity(crypto);
    const m = createIdentity(crypto);
    const pa = { userId: a.userId, identityKey: a.keyPair.publicKey };
    const honest = safetyNumber(crypto, pa, { userId: b.userId, identityKey: b.keyPair.publicKey });
    const mitm = safetyNumber(crypto, pa, { userId: b.userId, identityKey: m.keyPair.publicKey });
    expect(mitm).not.toBe(honest);
    // the halves are per user: Alice's half is in both
    const aliceHalf = fingerprintDigits(crypto, utf8.encode(a.userId), Uint8Array.of(1, ...a.keyPair.publicKey));
    expect(honest).toContain(aliceHalf);
    expect(mitm).toContain(aliceHalf);
  });

  it('formats in groups of five and parses typed input back', () => {
    const n = '0'.repeat(30) + '1'.repeat(30);
    const shown = formatSafetyNumber(n);
    expect(shown.split(' ')).toHaveLength(12);
    expect(normalizeSafetyNumber(shown)).toBe(n);
    expect(normalizeSafetyNumber('12345')).toBeNull();
    expect(normalizeSafetyNumber(n.slice(1) + 'x')).toBeNull();
  });
});
