import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { fromHex, toHex, utf8 } from './bytes.ts';
import { createIdentity, type LocalIdentity } from './identity.ts';
import { createPrekeyState } from './prekeys.ts';
import { buildBundle, verifyBundle, type VerifiedBundle } from './bundle.ts';
import { x3dhInitiate } from './x3dh.ts';
import {
  MAX_GROUP_ENVELOPE_BYTES,
  SEALED_SENDER_BYTES,
  decodeEnvelope,
  decodeGroupEnvelope,
  encodeGroupEnvelope,
  encodeEnvelope,
  routingTag,
  sealSender,
  unsealSender,
  type HandshakeEnvelope,
} from './envelope.ts';
import { buildEnvelopeVector, fakeRatchetMessage, type EnvelopeVector } from './handshake-vectors/build-vectors.ts';
import { codeOf, fuzzDecoder } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
let alice: LocalIdentity;
let bob: LocalIdentity;
let bundle: VerifiedBundle;
const T0 = 1_700_000_000_000;
const golden = JSON.parse(readFileSync(new URL('./handshake-vectors/envelope.json', import.meta.url), 'utf8')) as EnvelopeVector;

beforeAll(async () => {
  crypto = await createSodiumCrypto();
  alice = createIdentity(crypto);
  bob = createIdentity(crypto);
  bundle = verifyBundle(crypto, buildBundle(crypto, bob, createPrekeyState(crypto, T0), T0).bundle, bob.userId, T0);
});

function handshakeEnvelope(useOneTimePrekey = true): HandshakeEnvelope {
  const x = x3dhInitiate(crypto, alice, bundle, { useOneTimePrekey });
  const sealed = sealSender(crypto, x.sealKey, x.ephemeralKey, bob.keyPair.publicKey, {
    identityKey: alice.keyPair.publicKey,
    signedPrekeyId: x.signedPrekeyId,
    oneTimePrekeyId: x.oneTimePrekeyId,
    bundleVersion: 1,
    epoch: T0,
  });
  return decodeEnvelope(encodeEnvelope({ kind: 'handshake', ephemeralKey: x.ephemeralKey as never, sealed, message: fakeRatchetMessage() })) as HandshakeEnvelope;
}

describe('envelope', () => {
  it('golden vector: both kinds, byte for byte', () => {
    expect(buildEnvelopeVector(crypto)).toEqual(golden);
    const s = decodeEnvelope(fromHex(golden.sessionEnvelope));
    expect(s.kind).toBe('session');
    expect(toHex(s.message)).toBe(golden.ratchetMessage);
    const h = decodeEnvelope(fromHex(golden.handshakeEnvelope));
    expect(h.kind).toBe('handshake');
    expect(fromHex(golden.handshakeEnvelope).length).toBe(2 + 32 + SEALED_SENDER_BYTES + 384);
  });

  it('session kind: version ‖ 0x01 ‖ HMAC(HKs, "ratchetd-v1/route")[0..16] ‖ message', () => {
    const hk = crypto.randomBytes(32);
    const tag = routingTag(crypto, hk);
    expect(tag).toEqual(crypto.hmac(hk, utf8.encode('ratchetd-v1/route')).subarray(0, 16));
    const bytes = encodeEnvelope({ kind: 'session', tag, message: fakeRatchetMessage() });
    expect(Array.from(bytes.subarray(0, 2))).toEqual([1, 1]);
    expect(bytes.subarray(2, 18)).toEqual(tag);
    expect(decodeEnvelope(bytes)).toEqual({ kind: 'session', tag, message: fakeRatchetMessage() });
  });

  it('the sealed sender opens only for the recipient, and names the sender and prekeys', () => {
    const env = handshakeEnvelope();
    const s = unsealSender(crypto, bob, env);
    expect(s.identityKey).toEqual(alice.keyPair.publicKey);
    expect(s.userId).toBe(alice.userId);
    expect(s.signedPrekeyId).toBe(1);
    expect(s.oneTimePrekeyId).not.toBeNull();
    expect(s.bundleVersion).toBe(1);
    expect(s.epoch).toBe(T0);
    expect(unsealSender(crypto, bob, handshakeEnvelope(false)).oneTimePrekeyId).toBeNull();
    const carol = createIdentity(crypto);
    expect(codeOf(() => unsealSender(crypto, carol, env))).toBe('WrongRecipient');
  });

  it('the relay sees neither the sender nor whether a one-time prekey was used', () => {
    const a = encodeEnvelope(handshakeEnvelope(true));
    const b = encodeEnvelope(handshakeEnvelope(false));
    expect(a.length).toBe(b.length);
    const hexA = toHex(a);
    expect(hexA).not.toContain(toHex(alice.keyPair.publicKey));
    expect(hexA).not.toContain(toHex(utf8.encode(alice.userId)));
  });

  it('every bit flipped in the sealed block or its ephemeral key fails to open', () => {
    const env = handshakeEnvelope();
    for (let bit = 0; bit < SEALED_SENDER_BYTES * 8; bit += 3) {
      const sealed = env.sealed.slice();
      sealed[bit >> 3] = sealed[bit >> 3]! ^ (1 << (bit & 7));
      expect(codeOf(() => unsealSender(crypto, bob, { ...env, sealed }))).toBe('WrongRecipient');
    }
    const ek = env.ephemeralKey.slice();
    ek[0] = ek[0]! ^ 1;
    expect(codeOf(() => unsealSender(crypto, bob, { ...env, ephemeralKey: ek as never }))).toBe('WrongRecipient');
  });

  it('refuses low-order and top-bit ephemeral keys, unknown versions and kinds, short messages', () => {
    const bytes = encodeEnvelope(handshakeEnvelope());
    const low = bytes.slice();
    low.set(new Uint8Array(32), 2);
    expect(codeOf(() => decodeEnvelope(low))).toBe('InvalidKey');
    const top = bytes.slice();
    top[33] = top[33]! | 0x80;
    expect(codeOf(() => decodeEnvelope(top))).toBe('InvalidKey');
    const v = bytes.slice();
    v[0] = 2;
    expect(codeOf(() => decodeEnvelope(v))).toBe('UnsupportedVersion');
    const k = bytes.slice();
    k[1] = 3;
    expect(codeOf(() => decodeEnvelope(k))).toBe('DecodeError');
    expect(codeOf(() => decodeEnvelope(bytes.slice(0, 2 + 32 + SEALED_SENDER_BYTES + 10)))).toBe('DecodeError');
  });

  it('the decoder throws only DecodeError on arbitrary bytes (seed 42)', () => {
    fuzzDecoder(decodeEnvelope, [fromHex(golden.sessionEnvelope), fromHex(golden.handshakeEnvelope)]);
  });

  it('group copy kind (0x03): decodeGroupEnvelope parses it; decodeEnvelope, what today\'s receiver calls, refuses it as an unknown kind (as an older decoder does)', () => {
    const groupVectors = JSON.parse(readFileSync(new URL('./group/vectors/group-vectors.json', import.meta.url), 'utf8')) as { copyEnvelope: string };
    const copy = fromHex(groupVectors.copyEnvelope);
    expect(copy[1]).toBe(0x03);
    expect(codeOf(() => decodeEnvelope(copy))).toBe('DecodeError');
    const env = decodeGroupEnvelope(copy);
    expect(encodeGroupEnvelope(env)).toEqual(copy);
    // the other kinds are not group copies; versions and lengths are checked
    expect(codeOf(() => decodeGroupEnvelope(fromHex(golden.sessionEnvelope)))).toBe('DecodeError');
    const v = copy.slice();
    v[0] = 2;
    expect(codeOf(() => decodeGroupEnvelope(v))).toBe('UnsupportedVersion');
    expect(codeOf(() => decodeGroupEnvelope(copy.slice(0, copy.length - 1)))).toBe('DecodeError');
    expect(MAX_GROUP_ENVELOPE_BYTES).toBe(262315);
    expect(MAX_GROUP_ENVELOPE_BYTES).toBeLessThan(300 * 1024); // the broker's default payload limit
  });
});
