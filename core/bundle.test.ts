import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { BUNDLE_MAX_AGE_MS, BUNDLE_MAX_FUTURE_SKEW_MS } from './limits.ts';
import { createIdentity, type LocalIdentity } from './identity.ts';
import { consumeOneTimePrekey, createPrekeyState, type PrekeyState } from './prekeys.ts';
import { SIGNATURE_BYTES, buildBundle, verifyBundle } from './bundle.ts';
import { codeOf, fuzzDecoder } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
let bob: LocalIdentity;
let prekeys: PrekeyState;
const T0 = 1_700_000_000_000;

beforeAll(async () => {
  crypto = await createSodiumCrypto();
  bob = createIdentity(crypto);
  // Format 1 (a state without PQ prekeys, as a daemon of the previous version builds); format 2: bundle-pq.test.ts.
  prekeys = { ...createPrekeyState(crypto, T0), pqLastResortPrekeys: [], pqOneTimePrekeys: [] };
});

/** Offsets of the signed fields (see bundle.ts). */
const OFF = { version: 0, ik: 1, spkId: 34, spk: 38, spkCreated: 71, bundleVersion: 79, created: 83, count: 91, opks: 93 };

describe('prekey bundle', () => {
  it('verifies and carries every field', () => {
    const { bundle, next } = buildBundle(crypto, bob, prekeys, T0);
    const v = verifyBundle(crypto, bundle, bob.userId, T0);
    expect(v.userId).toBe(bob.userId);
    expect(v.identityKey).toEqual(bob.keyPair.publicKey);
    expect(v.signedPrekey.id).toBe(1);
    expect(v.signedPrekey.publicKey).toEqual(prekeys.signedPrekeys[0]!.keyPair.publicKey);
    expect(v.signedPrekey.createdAt).toBe(T0);
    expect(v.oneTimePrekeys).toHaveLength(100);
    expect(v.oneTimePrekeys[9]).toEqual({ id: 10, publicKey: prekeys.oneTimePrekeys[9]!.keyPair.publicKey });
    expect(v.bundleVersion).toBe(1);
    expect(next.bundleVersion).toBe(1);
    expect(bundle.length).toBe(OFF.opks + 100 * 37 + SIGNATURE_BYTES);
  });

  it('bundle versions increase with every build and consumed one-time prekeys are left out', () => {
    const first = buildBundle(crypto, bob, prekeys, T0);
    const used = consumeOneTimePrekey(first.next, 5);
    const second = buildBundle(crypto, bob, used, T0 + 1);
    const v = verifyBundle(crypto, second.bundle, bob.userId, T0 + 1, 1);
    expect(v.bundleVersion).toBe(2);
    expect(v.oneTimePrekeys.map((k) => k.id)).not.toContain(5);
    expect(v.oneTimePrekeys).toHaveLength(99);
  });

  it('rejects every single bit flipped in the signature and in every signed field', () => {
    const { bundle } = buildBundle(crypto, bob, prekeys, T0);
    const counts: Record<string, number> = {};
    for (let bit = 0; bit < bundle.length * 8; bit++) {
      const flipped = bundle.slice();
      flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
      const code = codeOf(() => verifyBundle(crypto, flipped, bob.userId, T0));
      counts[code] = (counts[code] ?? 0) + 1;
      const byte = bit >> 3;
      // bytes that only the signature protects must fail exactly on the signature
      const sigOnly =
        (byte >= OFF.spkId && byte < OFF.spk) ||
        (byte >= OFF.spkCreated && byte < OFF.count) ||
        byte >= bundle.length - SIGNATURE_BYTES;
      // the top bits of a u64 time stamp make it exceed 2^53: refused by the parser before the signature
      const u64High = byte === OFF.spkCreated || byte === OFF.spkCreated + 1 || byte === OFF.created || byte === OFF.created + 1;
      if (sigOnly && !u64High) expect(code, `bit ${bit}`).toBe('BadSignature');
      if (u64High) expect(['BadSignature', 'DecodeError'], `bit ${bit}`).toContain(code);
      if (byte > OFF.ik && byte < OFF.spkId) expect(code, `bit ${bit}`).toBe('WrongRecipient');
      // a flipped prekey may also stop being a valid X25519 key (top bit, type byte)
      if (byte >= OFF.spk && byte < OFF.spkCreated) expect(['BadSignature', 'InvalidKey'], `bit ${bit}`).toContain(code);
    }
    // the rest are structural refusals (key type bytes, top bits, id order), all before any use
    expect(counts['BadSignature']).toBeGreaterThan(bundle.length * 8 * 0.8);
    expect(Object.keys(counts).sort()).toEqual(['BadSignature', 'DecodeError', 'InvalidKey', 'UnsupportedVersion', 'WrongRecipient']);
  });

  it('rejects a bundle signed by someone else, or for another user', () => {
    const mallory = createIdentity(crypto);
    const { bundle } = buildBundle(crypto, mallory, prekeys, T0);
    expect(codeOf(() => verifyBundle(crypto, bundle, bob.userId, T0))).toBe('WrongRecipient');
    // Mallory's key but Bob's identity key bytes swapped in: the signature does not verify
    const forged = bundle.slice();
    forged.set(bob.keyPair.publicKey, OFF.ik + 1);
    expect(codeOf(() => verifyBundle(crypto, forged, bob.userId, T0))).toBe('BadSignature');
  });

  it('rejects stale, future-dated and rolled-back bundles at their exact boundaries', () => {
    const { bundle } = buildBundle(crypto, bob, prekeys, T0);
    expect(verifyBundle(crypto, bundle, bob.userId, T0 + BUNDLE_MAX_AGE_MS).createdAt).toBe(T0);
    expect(codeOf(() => verifyBundle(crypto, bundle, bob.userId, T0 + BUNDLE_MAX_AGE_MS + 1))).toBe('StaleBundle');
    expect(verifyBundle(crypto, bundle, bob.userId, T0 - BUNDLE_MAX_FUTURE_SKEW_MS).createdAt).toBe(T0);
    expect(codeOf(() => verifyBundle(crypto, bundle, bob.userId, T0 - BUNDLE_MAX_FUTURE_SKEW_MS - 1))).toBe('FutureBundle');
    expect(verifyBundle(crypto, bundle, bob.userId, T0, 1).bundleVersion).toBe(1);
    expect(codeOf(() => verifyBundle(crypto, bundle, bob.userId, T0, 2))).toBe('RolledBackBundle');
  });

  it('rejects an unknown protocol version and trailing bytes', () => {
    const { bundle } = buildBundle(crypto, bob, prekeys, T0);
    const v3 = bundle.slice();
    v3[0] = 3;
    expect(codeOf(() => verifyBundle(crypto, v3, bob.userId, T0))).toBe('UnsupportedVersion');
    expect(codeOf(() => verifyBundle(crypto, new Uint8Array([...bundle, 0]), bob.userId, T0))).toBe('DecodeError');
  });

  it('verifyBundle throws only DecodeError on arbitrary bytes, and only typed errors on corrupted bundles (seed 42)', () => {
    fuzzDecoder((b) => verifyBundle(crypto, b, bob.userId, T0));
    const { bundle } = buildBundle(crypto, bob, prekeys, T0);
    for (let i = 0; i < bundle.length; i += 7) {
      const c = bundle.slice();
      c[i] = c[i]! ^ 0x5a;
      expect(codeOf(() => verifyBundle(crypto, c, bob.userId, T0))).toMatch(
        /^(DecodeError|InvalidKey|UnsupportedVersion|WrongRecipient|BadSignature)$/,
      );
    }
  });
});
