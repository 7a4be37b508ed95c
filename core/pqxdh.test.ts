/**
 * PQXDH (pqxdh.ts) and everything it adds to the formats: golden vectors pinning the KDF, the AD,
 * the handshake id and the encodings; the one-time PQ prekey consumed once and the last-resort one
 * replay-checked; a KEM secret that does not match failing only at the AEAD with nothing changed;
 * no downgrade on either side; the previous version's formats still read; every new decoder fuzzed.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto, KeyPair } from './crypto.ts';
import { Writer, concat, fromHex, lp, toHex, utf8 } from './bytes.ts';
import { identityFromKeyPair } from './identity.ts';
import {
  KEM_CIPHERTEXT_BYTES,
  KEM_PUBLIC_KEY_BYTES,
  createPrekeyState,
  decodePrekeyState,
  encodePrekeyState,
  maintainPrekeys,
  pqOneTimePrekeyCount,
  type PrekeyState,
} from './prekeys.ts';
import { BUNDLE_FORMAT_PQ, MAX_BUNDLE_PQ_ONE_TIME_PREKEYS, SIGNATURE_BYTES, buildBundle, verifyBundle } from './bundle.ts';
import {
  ENVELOPE_KIND_HANDSHAKE,
  ENVELOPE_KIND_PQ_HANDSHAKE,
  PQ_SEALED_SENDER_BYTES,
  SEALED_SENDER_BYTES,
  decodeEnvelope,
  encodeEnvelope,
  sealSender,
  unsealSender,
  type HandshakeEnvelope,
} from './envelope.ts';
import { dh, identityDhPublic } from './keys.ts';
import { deriveSealKey } from './x3dh.ts';
import { checkBundleNotDowngraded, startSession } from './conversation.ts';
import { decodePeerRecord, encodePeerRecord } from './session.ts';
import { handshakePrekeysPublished } from './handshake-prekeys.ts';
import { ONE_TIME_PREKEYS_TARGET, PQ_ONE_TIME_PREKEYS_TARGET } from './limits.ts';
import { buildPqxdhVector, VECTOR_TIME, type PqxdhVector } from './handshake-vectors/build-vectors.ts';
import { Party } from './handshake-vectors/party.ts';
import { scriptedCrypto } from './handshake-vectors/scripted-crypto.ts';
import { codeOf, fuzzDecoder } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
const T0 = 1_700_000_000_000;
const vectors = JSON.parse(readFileSync(new URL('./handshake-vectors/pqxdh.json', import.meta.url), 'utf8')) as PqxdhVector[];

beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

/** A crypto that remembers every X25519 private key it makes (to re-seal a handshake in a test). */
function recordingEphemerals(base: Crypto): { crypto: Crypto; ephemerals: KeyPair[] } {
  const ephemerals: KeyPair[] = [];
  return {
    ephemerals,
    crypto: {
      ...base,
      x25519KeyPair: () => {
        const kp = base.x25519KeyPair();
        ephemerals.push({ publicKey: kp.publicKey, privateKey: kp.privateKey.slice() });
        return kp;
      },
    },
  };
}

function pqCount(p: Party): number {
  return pqOneTimePrekeyCount(decodePrekeyState(p.prekeys));
}

describe('PQXDH golden vectors', () => {
  it('frozen outputs for injected randomness, with a one-time PQ prekey and with the last-resort one', () => {
    expect(vectors.map((v) => v.name)).toEqual(['pqxdh/one-time', 'pqxdh/last-resort']);
    expect(buildPqxdhVector(crypto, 'pqxdh/one-time', true)).toEqual(vectors[0]);
    expect(buildPqxdhVector(crypto, 'pqxdh/last-resort', false)).toEqual(vectors[1]);
    expect(vectors[0]!.pqLastResort).toBe(false);
    expect(vectors[1]!.pqLastResort).toBe(true);
    expect(vectors[1]!.oneTimePrekeyId).toBeNull();
  });

  it('follow the PQXDH KDF, AD and handshake-id definitions when recomputed from the raw primitives', () => {
    for (const v of vectors) {
      const a = crypto.ed25519KeyPairFromSeed(fromHex(v.aliceIdentitySeed));
      const b = crypto.ed25519KeyPairFromSeed(fromHex(v.bobIdentitySeed));
      const ikA = crypto.ed25519PrivateToX25519(a.privateKey);
      const ikB = crypto.ed25519PublicToX25519(b.publicKey);
      const spk = crypto.x25519PublicKey(fromHex(v.bobSignedPrekeyPrivate));
      const ek = fromHex(v.ephemeralPrivate);
      const dhs = [crypto.x25519(ikA, spk), crypto.x25519(ek, ikB), crypto.x25519(ek, spk)];
      if (v.oneTimePrekeyPrivate !== null) dhs.push(crypto.x25519(ek, crypto.x25519PublicKey(fromHex(v.oneTimePrekeyPrivate))));
      const pq = crypto.kemKeyPairFromSeed(fromHex(v.pqPrekeySeed));
      const kem = crypto.kemEncapsulateWithRandomness(pq.publicKey, fromHex(v.kemRandomness));
      expect(toHex(crypto.sha256(kem.ciphertext))).toBe(v.kemCiphertextSha256);
      expect(toHex(kem.sharedSecret)).toBe(v.kemSharedSecret);
      expect(toHex(crypto.kemDecapsulate(kem.ciphertext, pq.privateKey))).toBe(v.kemSharedSecret);
      // HKDF(0^32, 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, "ratchetd-v1/PQXDH", 96)
      const ikm = concat(new Uint8Array(32).fill(0xff), ...dhs, kem.sharedSecret);
      const okm = crypto.hkdf(new Uint8Array(32), ikm, utf8.encode('ratchetd-v1/PQXDH'), 96);
      expect(toHex(okm.subarray(0, 32))).toBe(v.sharedSecret);
      expect(toHex(okm.subarray(32, 64))).toBe(v.sharedHeaderKeyA);
      expect(toHex(okm.subarray(64, 96))).toBe(v.sharedNextHeaderKeyB);
      // …and not the X3DH KDF, nor without the KEM secret
      const x3dhOkm = crypto.hkdf(new Uint8Array(32), concat(new Uint8Array(32).fill(0xff), ...dhs), utf8.encode('ratchetd-v1/X3DH'), 96);
      expect(toHex(x3dhOkm.subarray(0, 32))).not.toBe(v.sharedSecret);
      expect(toHex(crypto.hkdf(new Uint8Array(32), okm.subarray(0, 32), utf8.encode('ratchetd-v1/replay-id'), 16))).toBe(v.replayId);
      expect(toHex(crypto.hkdf(new Uint8Array(32), dhs[1]!, utf8.encode('ratchetd-v1/seal'), 32))).toBe(v.sealKey);
      const idA = identityFromKeyPair(crypto, a).userId;
      const idB = identityFromKeyPair(crypto, b).userId;
      const classicAd = concat(Uint8Array.of(1, 1), a.publicKey, Uint8Array.of(1), b.publicKey, lp(utf8.encode(idA)), lp(utf8.encode(idB)));
      const ad = concat(classicAd, new Writer().u32(v.pqPrekeyId).finish(), crypto.sha256(pq.publicKey), crypto.sha256(kem.ciphertext));
      expect(toHex(ad)).toBe(v.associatedData);
      const hid = new Writer()
        .fixed(utf8.encode('ratchetd-v1/pq-handshake-id'))
        .u8(1)
        .fixed(a.publicKey)
        .u8(1)
        .fixed(b.publicKey)
        .fixed(crypto.x25519PublicKey(ek))
        .u32(1)
        .bool(v.oneTimePrekeyId !== null)
        .u32(v.oneTimePrekeyId ?? 0)
        .u32(v.pqPrekeyId)
        .finish();
      expect(toHex(crypto.sha256(hid).subarray(0, 16))).toBe(v.handshakeId);
    }
  });

  it('pin the bundle (format 2) and prekey record (version 2) encodings; the bundle stays well under 64 KiB', () => {
    const v = vectors[0]!;
    const expected = 93 + ONE_TIME_PREKEYS_TARGET * 37 + (4 + 8 + KEM_PUBLIC_KEY_BYTES) + 1 + PQ_ONE_TIME_PREKEYS_TARGET * (4 + KEM_PUBLIC_KEY_BYTES) + SIGNATURE_BYTES;
    expect(v.bundleBytes).toBe(expected);
    expect(v.bundleBytes).toBe(16_934);
    expect(v.bundleBytes).toBeLessThan(64 * 1024 / 3);
    expect(v.bundleSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(v.prekeyStateSha256).toMatch(/^[0-9a-f]{64}$/);
    // The largest bundle the decoder accepts (every bound at its maximum) still fits in 64 KiB.
    const maxBundle = 93 + 200 * 37 + (4 + 8 + KEM_PUBLIC_KEY_BYTES) + 1 + MAX_BUNDLE_PQ_ONE_TIME_PREKEYS * (4 + KEM_PUBLIC_KEY_BYTES) + SIGNATURE_BYTES;
    expect(maxBundle).toBeLessThan(64 * 1024);
  });

  it('a prekey record of the previous version (1) decodes with no PQ prekeys; maintenance issues them and the next bundle is format 2 (golden)', () => {
    const s = scriptedCrypto(crypto, 'prekeys/v1-migration');
    const spk = s.x25519KeyPair();
    const opk = s.x25519KeyPair();
    // version 1 ‖ nextSpk 2 ‖ nextOpk 2 ‖ bundleVersion 5 ‖ 1 SPK ‖ 1 OPK (the format before PQXDH)
    const v1 = new Writer().u8(1).u32(2).u32(2).u32(5).u8(1).u32(1).u64(VECTOR_TIME).u64(0).fixed(spk.publicKey).fixed(spk.privateKey);
    const v1Bytes = v1.u16(1).u32(1).fixed(opk.publicKey).fixed(opk.privateKey).finish();
    const old = decodePrekeyState(v1Bytes);
    expect(old.pqLastResortPrekeys).toEqual([]);
    expect(old.pqOneTimePrekeys).toEqual([]);
    expect(old.pqSinceBundleVersion).toBe(0);
    const bob = identityFromKeyPair(crypto, crypto.ed25519KeyPairFromSeed(s.randomBytes(32)));
    expect(buildBundle(crypto, bob, old, VECTOR_TIME).bundle[0]).toBe(1); // still format 1 until maintained
    const m = maintainPrekeys(s, old, VECTOR_TIME + 1);
    expect(m.changed).toBe(true);
    expect(m.next.pqLastResortPrekeys.map((k) => k.id)).toEqual([1]);
    expect(m.next.pqOneTimePrekeys.map((k) => k.id)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const built = buildBundle(crypto, bob, m.next, VECTOR_TIME + 1);
    expect(built.bundle[0]).toBe(BUNDLE_FORMAT_PQ);
    expect(built.next.pqSinceBundleVersion).toBe(6);
    const encoded = encodePrekeyState(built.next);
    expect(encoded[0]).toBe(2);
    expect(toHex(encodePrekeyState(decodePrekeyState(encoded)))).toBe(toHex(encoded));
    expect(toHex(crypto.sha256(encoded))).toBe('4499a2fca66666f93a533d97116d2c1dcc88ab109b6f3c05a56609f236c75fd0');
  });
});

describe('PQXDH through the facade', () => {
  it('a first contact is PQXDH: kind 0x04, 1,092 bytes more than X3DH; the reply works and the one-time PQ prekey is consumed once', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const first = alice.send(bob, 'hello', T0).envelope;
    expect(first[1]).toBe(ENVELOPE_KIND_PQ_HANDSHAKE);
    expect(pqCount(bob)).toBe(PQ_ONE_TIME_PREKEYS_TARGET);
    expect(Party.texts(bob.receive(first, T0))).toEqual(['hello']);
    expect(pqCount(bob)).toBe(PQ_ONE_TIME_PREKEYS_TARGET - 1);
    const reply = bob.send(alice, 'hi', T0 + 1).envelope;
    expect(Party.texts(alice.receive(reply, T0 + 1))).toEqual(['hi']);
    const next = alice.send(bob, 'again', T0 + 2).envelope;
    expect(next[1]).toBe(1); // session kind once answered
    expect(Party.texts(bob.receive(next, T0 + 2))).toEqual(['again']);

    // The same message as X3DH (a format-1 bundle of the same keys) is exactly 1,092 bytes shorter.
    const carol = new Party(crypto, T0);
    const classicBob = new Party(crypto, T0);
    classicBob.prekeys = encodePrekeyState({ ...decodePrekeyState(classicBob.prekeys), pqLastResortPrekeys: [], pqOneTimePrekeys: [] });
    classicBob.publish(T0);
    const classic = carol.send(classicBob, 'hello', T0).envelope;
    expect(classic[1]).toBe(ENVELOPE_KIND_HANDSHAKE);
    expect(first.length - classic.length).toBe(KEM_CIPHERTEXT_BYTES + 4);
    expect(PQ_SEALED_SENDER_BYTES - SEALED_SENDER_BYTES).toBe(4);
  });

  it('the one-time PQ prekey is gone after use: a replay once the session is gone is StalePrekey; the last-resort one is replay-checked', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const carol = new Party(crypto, T0);
    const oneTime = alice.send(bob, 'one-time', T0).envelope;
    bob.receive(oneTime, T0);
    carol.connect(bob, T0, { useOneTimePrekey: false }); // no OPK, last-resort PQ prekey
    const lastResort = carol.send(bob, 'last resort', T0).envelope;
    const pqBefore = pqCount(bob);
    expect(Party.texts(bob.receive(lastResort, T0))).toEqual(['last resort']);
    expect(pqCount(bob)).toBe(pqBefore); // the last-resort prekey is not consumed
    bob.peers.clear();
    bob.tagIndex.clear();
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(oneTime, T0 + 1))).toBe('StalePrekey');
    expect(codeOf(() => bob.receive(lastResort, T0 + 1))).toBe('ReplayedHandshake');
    expect(bob.snapshot()).toBe(before);
  });

  it('a KEM ciphertext that decapsulates to another secret fails only at the AEAD (BadMessage), with nothing changed', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const good = alice.send(bob, 'first', T0).envelope;
    const env = decodeEnvelope(good) as HandshakeEnvelope;
    const before = bob.snapshot();
    // (1) tampered ciphertext bytes: implicit rejection gives a pseudorandom secret
    const ctAt = 2 + 32 + PQ_SEALED_SENDER_BYTES;
    for (const offset of [ctAt, ctAt + 500, ctAt + KEM_CIPHERTEXT_BYTES - 1]) {
      const bad = good.slice();
      bad[offset] = bad[offset]! ^ 0x01;
      expect(codeOf(() => bob.receive(bad, T0))).toBe('BadMessage');
      expect(bob.snapshot()).toBe(before);
    }
    // (2) a well-formed ciphertext made for another ML-KEM key
    const other = crypto.kemEncapsulate(crypto.kemKeyPair().publicKey).ciphertext;
    const swapped = encodeEnvelope({ ...env, kemCiphertext: other });
    expect(codeOf(() => bob.receive(swapped, T0))).toBe('BadMessage');
    expect(bob.snapshot()).toBe(before);
    // (3) the right ciphertext under another PQ prekey id of Bob's: that key decapsulates it to another secret
    const { crypto: rec, ephemerals } = recordingEphemerals(crypto);
    const mallet = new Party(rec, T0);
    const env2 = decodeEnvelope(mallet.send(bob, 'x', T0).envelope) as HandshakeEnvelope;
    const claim = unsealSender(crypto, bob.own(), env2);
    const ek = ephemerals.find((k) => toHex(k.publicKey) === toHex(env2.ephemeralKey))!;
    const sealKey = deriveSealKey(crypto, dh(crypto, ek.privateKey, identityDhPublic(crypto, bob.own().keyPair.publicKey)));
    const otherId = decodePrekeyState(bob.prekeys).pqOneTimePrekeys.find((k) => k.id !== claim.pqPrekeyId)!.id;
    const resealed = sealSender(crypto, sealKey, env2.ephemeralKey, bob.own().keyPair.publicKey, { ...claim, pqPrekeyId: otherId });
    const before2 = bob.snapshot();
    expect(codeOf(() => bob.receive(encodeEnvelope({ ...env2, sealed: resealed }), T0))).toBe('BadMessage');
    expect(bob.snapshot()).toBe(before2);
    expect(Party.texts(bob.receive(good, T0))).toEqual(['first']);
  });

  it('no downgrade at the responder: the same handshake stripped of its KEM ciphertext, or an X3DH one to a PQ bundle, is DowngradedHandshake', () => {
    const { crypto: rec, ephemerals } = recordingEphemerals(crypto);
    const alice = new Party(rec, T0);
    const bob = new Party(crypto, T0);
    const env = decodeEnvelope(alice.send(bob, 'pq', T0).envelope) as HandshakeEnvelope;
    const claim = unsealSender(crypto, bob.own(), env);
    const ek = ephemerals.find((k) => toHex(k.publicKey) === toHex(env.ephemeralKey))!;
    const sealKey = deriveSealKey(crypto, dh(crypto, ek.privateKey, identityDhPublic(crypto, bob.own().keyPair.publicKey)));
    const classicSeal = sealSender(crypto, sealKey, env.ephemeralKey, bob.own().keyPair.publicKey, { ...claim, pqPrekeyId: null });
    const stripped = encodeEnvelope({ kind: 'handshake', ephemeralKey: env.ephemeralKey, sealed: classicSeal, message: env.message });
    expect(stripped[1]).toBe(ENVELOPE_KIND_HANDSHAKE);
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(stripped, T0))).toBe('DowngradedHandshake');
    expect(bob.snapshot()).toBe(before);
    // An initiator handed Bob's bundle with the PQ part removed (as an older daemon would read it)
    const carol = new Party(crypto, T0);
    const verified = verifyBundle(crypto, bob.bundle, bob.userId, T0);
    const x3dh = startSession(crypto, carol.own(), null, { ...verified, pq: null }, T0);
    carol.store(x3dh);
    const classic = carol.send(bob, 'classic', T0).envelope;
    expect(classic[1]).toBe(ENVELOPE_KIND_HANDSHAKE);
    expect(codeOf(() => bob.receive(classic, T0))).toBe('DowngradedHandshake');
    expect(bob.snapshot()).toBe(before);
  });

  it('no downgrade at the initiator: a pinned peer\'s bundle without PQ prekeys is DowngradedBundle', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const pq = verifyBundle(crypto, bob.bundle, bob.userId, T0);
    expect(() => checkBundleNotDowngraded(pq, true)).not.toThrow();
    const legacy = { ...decodePrekeyState(bob.prekeys), pqLastResortPrekeys: [], pqOneTimePrekeys: [] } satisfies PrekeyState;
    const format1 = verifyBundle(crypto, buildBundle(crypto, bob.own(), legacy, T0 + 1).bundle, bob.userId, T0 + 1, pq.bundleVersion);
    expect(format1.pq).toBeNull();
    expect(() => checkBundleNotDowngraded(format1, false)).not.toThrow();
    expect(codeOf(() => checkBundleNotDowngraded(format1, true))).toBe('DowngradedBundle');
    expect(codeOf(() => startSession(crypto, alice.own(), null, format1, T0 + 1, { requirePq: true }))).toBe('DowngradedBundle');
  });

  it('previous version: X3DH to a format-1 bundle still works; after the upgrade a handshake in flight to the old bundle is accepted, a new X3DH one is not', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    // a daemon of the previous version: no PQ prekeys, never published a PQ bundle; it publishes format 1
    bob.prekeys = encodePrekeyState({ ...decodePrekeyState(bob.prekeys), pqLastResortPrekeys: [], pqOneTimePrekeys: [], pqSinceBundleVersion: 0 });
    bob.publish(T0);
    const oldBundle = bob.bundle;
    expect(oldBundle[0]).toBe(1);
    const x3dh = alice.send(bob, 'classic', T0).envelope;
    expect(x3dh[1]).toBe(ENVELOPE_KIND_HANDSHAKE);
    // Carol got the same old bundle and sends while Bob upgrades
    const carol = new Party(crypto, T0);
    carol.bundle = new Uint8Array(0);
    carol.store(startSession(crypto, carol.own(), null, verifyBundle(crypto, oldBundle, bob.userId, T0), T0));
    const inFlight = carol.send(bob, 'in flight', T0).envelope;
    // Bob upgrades: maintenance issues PQ prekeys, the next bundle is format 2
    const m = maintainPrekeys(crypto, decodePrekeyState(bob.prekeys), T0 + 1);
    bob.prekeys = encodePrekeyState(m.next);
    bob.publish(T0 + 1);
    expect(bob.bundle[0]).toBe(BUNDLE_FORMAT_PQ);
    expect(Party.texts(bob.receive(x3dh, T0 + 2))).toEqual(['classic']);
    expect(Party.texts(bob.receive(inFlight, T0 + 2))).toEqual(['in flight']);
    // A fresh X3DH handshake naming the new bundle version is a downgrade
    const dave = new Party(crypto, T0);
    const v = verifyBundle(crypto, bob.bundle, bob.userId, T0 + 2);
    dave.store(startSession(crypto, dave.own(), null, { ...v, pq: null }, T0 + 2));
    expect(codeOf(() => bob.receive(dave.send(bob, 'new', T0 + 2).envelope, T0 + 2))).toBe('DowngradedHandshake');
    // …and a new initiator uses PQXDH
    const erin = new Party(crypto, T0);
    const pqFirst = erin.send(bob, 'pq', T0 + 3).envelope;
    expect(pqFirst[1]).toBe(ENVELOPE_KIND_PQ_HANDSHAKE);
    expect(Party.texts(bob.receive(pqFirst, T0 + 3))).toEqual(['pq']);
  });

  it('an unanswered PQXDH handshake is presumed lost once its one-time PQ prekey is no longer published', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    alice.connect(bob, T0);
    const session = alice.peer(bob.userId)!.active!;
    const pqId = session.pendingHandshake!.pq!.prekeyId;
    const published = verifyBundle(crypto, bob.bundle, bob.userId, T0);
    expect(handshakePrekeysPublished(crypto, alice.own(), session, published)).toBe(true);
    const s = decodePrekeyState(bob.prekeys);
    bob.prekeys = encodePrekeyState({ ...s, pqOneTimePrekeys: s.pqOneTimePrekeys.filter((k) => k.id !== pqId) });
    bob.publish(T0 + 1);
    const without = verifyBundle(crypto, bob.bundle, bob.userId, T0 + 1);
    expect(handshakePrekeysPublished(crypto, alice.own(), session, without)).toBe(false);
  });
});

describe('PQ decoders (fuzzed, seed 42)', () => {
  let pqEnvelope: Uint8Array;
  let pqBundle: Uint8Array;
  let prekeyRecord: Uint8Array;
  let peerRecord: Uint8Array;
  let bob: Party;

  beforeAll(() => {
    const alice = new Party(crypto, T0);
    bob = new Party(crypto, T0);
    pqEnvelope = alice.send(bob, 'fuzz', T0).envelope;
    pqBundle = bob.bundle;
    prekeyRecord = bob.prekeys;
    peerRecord = alice.peers.get(bob.userId)!;
  });

  it('decodeEnvelope, with corruptions and truncations of a PQ handshake envelope', () => {
    fuzzDecoder(decodeEnvelope, [pqEnvelope], 1000);
    expect(codeOf(() => decodeEnvelope(pqEnvelope.subarray(0, 2 + 32 + PQ_SEALED_SENDER_BYTES + 100)))).toBe('DecodeError');
  });

  it('unsealSender on corrupted PQ envelopes throws only typed errors', () => {
    for (let i = 2; i < 2 + 32 + PQ_SEALED_SENDER_BYTES; i += 3) {
      const bad = pqEnvelope.slice();
      bad[i] = bad[i]! ^ 0x10;
      let env: ReturnType<typeof decodeEnvelope>;
      try {
        env = decodeEnvelope(bad);
      } catch {
        continue;
      }
      expect(codeOf(() => unsealSender(crypto, bob.own(), env as HandshakeEnvelope))).toMatch(/^(WrongRecipient|DecodeError|InvalidKey)$/);
    }
  });

  it('verifyBundle on format-2 bundles: a flipped bit anywhere in the PQ part is refused before use', () => {
    const pqStart = 93 + ONE_TIME_PREKEYS_TARGET * 37;
    const codes = new Set<string>();
    for (let byte = pqStart; byte < pqBundle.length - SIGNATURE_BYTES; byte += 13) {
      const bad = pqBundle.slice();
      bad[byte] = bad[byte]! ^ 0x04;
      const code = codeOf(() => verifyBundle(crypto, bad, bob.userId, T0));
      codes.add(code);
      expect(code, `byte ${byte}`).toMatch(/^(BadSignature|DecodeError)$/);
    }
    expect(codes).toContain('BadSignature');
    // the one-time PQ prekey count, raised past the bound or the bytes present
    const countAt = pqStart + 4 + 8 + KEM_PUBLIC_KEY_BYTES;
    const tooMany = pqBundle.slice();
    tooMany[countAt] = MAX_BUNDLE_PQ_ONE_TIME_PREKEYS + 1;
    expect(codeOf(() => verifyBundle(crypto, tooMany, bob.userId, T0))).toBe('DecodeError');
    fuzzDecoder((b) => {
      try {
        verifyBundle(crypto, b, bob.userId, T0);
      } catch (e) {
        if (e instanceof Error && 'code' in e && (e.code === 'BadSignature' || e.code === 'WrongRecipient')) return;
        throw e;
      }
    }, [pqBundle], 300);
  });

  it('decodePrekeyState (version 2) and decodePeerRecord (pending PQXDH handshake) round-trip and throw only DecodeError', () => {
    expect(toHex(encodePrekeyState(decodePrekeyState(prekeyRecord)))).toBe(toHex(prekeyRecord));
    expect(toHex(encodePeerRecord(decodePeerRecord(peerRecord)))).toBe(toHex(peerRecord));
    expect(decodePeerRecord(peerRecord).active!.pendingHandshake!.pq!.ciphertext.length).toBe(KEM_CIPHERTEXT_BYTES);
    fuzzDecoder(decodePrekeyState, [prekeyRecord], 300);
    fuzzDecoder(decodePeerRecord, [peerRecord], 300);
  });

  it('a fresh prekey state has a last-resort PQ prekey and the target of one-time ones, from one id counter', () => {
    const s = createPrekeyState(crypto, T0);
    expect(s.pqLastResortPrekeys.map((k) => k.id)).toEqual([1]);
    expect(s.pqOneTimePrekeys.map((k) => k.id)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(s.nextPqPrekeyId).toBe(12);
    expect(String(s)).toBe('[PrekeyState redacted]');
  });
});
