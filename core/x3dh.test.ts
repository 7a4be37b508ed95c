import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto, KeyPair } from './crypto.ts';
import { concat, fromHex, lp, toHex, utf8 } from './bytes.ts';
import { createIdentity, identityFromKeyPair, type LocalIdentity } from './identity.ts';
import { consumeOneTimePrekey, createPrekeyState, type PrekeyState } from './prekeys.ts';
import { buildBundle, verifyBundle, type VerifiedBundle } from './bundle.ts';
import { associatedData, randomIndex, x3dhInitiate, x3dhRespond } from './x3dh.ts';
import { buildX3dhVector, type X3dhVector } from './handshake-vectors/build-vectors.ts';
import { codeOf } from './handshake-vectors/test-helpers.ts';
import { scriptedCrypto } from './handshake-vectors/scripted-crypto.ts';

let crypto: Crypto;
let alice: LocalIdentity;
let bob: LocalIdentity;
let prekeys: PrekeyState;
let bundle: VerifiedBundle;
const T0 = 1_700_000_000_000;
const vectors = JSON.parse(readFileSync(new URL('./handshake-vectors/x3dh.json', import.meta.url), 'utf8')) as X3dhVector[];

beforeAll(async () => {
  crypto = await createSodiumCrypto();
  alice = createIdentity(crypto);
  bob = createIdentity(crypto);
  prekeys = createPrekeyState(crypto, T0);
  bundle = verifyBundle(crypto, buildBundle(crypto, bob, prekeys, T0).bundle, bob.userId, T0);
});

const aliceClaim = () => ({ identityKey: alice.keyPair.publicKey, userId: alice.userId });

describe('X3DH', () => {
  it('golden vectors: frozen outputs for injected randomness, with and without a one-time prekey', () => {
    expect(vectors.map((v) => v.name)).toEqual(['x3dh/with-opk', 'x3dh/without-opk']);
    expect(buildX3dhVector(crypto, 'x3dh/with-opk', true)).toEqual(vectors[0]);
    expect(buildX3dhVector(crypto, 'x3dh/without-opk', false)).toEqual(vectors[1]);
  });

  it('golden vectors follow the X3DH, AD and replay-id definitions when recomputed from the raw primitives', () => {
    for (const v of vectors) {
      const a = crypto.ed25519KeyPairFromSeed(fromHex(v.aliceIdentitySeed));
      const b = crypto.ed25519KeyPairFromSeed(fromHex(v.bobIdentitySeed));
      const ikA = crypto.ed25519PrivateToX25519(a.privateKey);
      const ikB = crypto.ed25519PublicToX25519(b.publicKey);
      const spk = crypto.x25519PublicKey(fromHex(v.bobSignedPrekeyPrivate));
      const ek = fromHex(v.ephemeralPrivate);
      expect(toHex(crypto.x25519PublicKey(ek))).toBe(v.ephemeralPublic);
      const dhs = [crypto.x25519(ikA, spk), crypto.x25519(ek, ikB), crypto.x25519(ek, spk)];
      if (v.oneTimePrekeyPrivate !== null) dhs.push(crypto.x25519(ek, crypto.x25519PublicKey(fromHex(v.oneTimePrekeyPrivate))));
      const okm = crypto.hkdf(new Uint8Array(32), concat(new Uint8Array(32).fill(0xff), ...dhs), utf8.encode('ratchetd-v1/X3DH'), 96);
      expect(toHex(okm.subarray(0, 32))).toBe(v.sharedSecret);
      expect(toHex(okm.subarray(32, 64))).toBe(v.sharedHeaderKeyA);
      expect(toHex(okm.subarray(64, 96))).toBe(v.sharedNextHeaderKeyB);
      const replay = crypto.hkdf(new Uint8Array(32), okm.subarray(0, 32), utf8.encode('ratchetd-v1/replay-id'), 16);
      expect(toHex(replay)).toBe(v.replayId);
      const seal = crypto.hkdf(new Uint8Array(32), dhs[1]!, utf8.encode('ratchetd-v1/seal'), 32);
      expect(toHex(seal)).toBe(v.sealKey);
      const idA = identityFromKeyPair(crypto, a).userId;
      const idB = identityFromKeyPair(crypto, b).userId;
      const ad = concat(Uint8Array.of(1, 1), a.publicKey, Uint8Array.of(1), b.publicKey, lp(utf8.encode(idA)), lp(utf8.encode(idB)));
      expect(toHex(ad)).toBe(v.associatedData);
    }
  });

  it('initiator and responder derive the same secrets, with and without DH4', () => {
    const withOpk = x3dhInitiate(crypto, alice, bundle);
    expect(withOpk.oneTimePrekeyId).not.toBeNull();
    const r1 = x3dhRespond(crypto, bob, prekeys, aliceClaim(), withOpk.ephemeralKey, withOpk);
    expect(r1.secrets.sharedSecret).toEqual(withOpk.secrets.sharedSecret);
    expect(r1.secrets.sharedHeaderKeyA).toEqual(withOpk.secrets.sharedHeaderKeyA);
    expect(r1.secrets.sharedNextHeaderKeyB).toEqual(withOpk.secrets.sharedNextHeaderKeyB);
    expect(r1.secrets.associatedData).toEqual(withOpk.secrets.associatedData);
    expect(r1.replayId).toEqual(withOpk.replayId);
    expect(r1.signedPrekeyPair.publicKey).toEqual(withOpk.responderSignedPrekey);

    const without = x3dhInitiate(crypto, alice, bundle, { useOneTimePrekey: false });
    expect(without.oneTimePrekeyId).toBeNull();
    const r2 = x3dhRespond(crypto, bob, prekeys, aliceClaim(), without.ephemeralKey, without);
    expect(r2.secrets.sharedSecret).toEqual(without.secrets.sharedSecret);
    // leaving DH4 out changes the key: a responder that used the OPK would not agree
    const wrong = x3dhRespond(crypto, bob, prekeys, aliceClaim(), without.ephemeralKey, { ...without, oneTimePrekeyId: 1 });
    expect(wrong.secrets.sharedSecret).not.toEqual(without.secrets.sharedSecret);
  });

  it('AD is version ‖ Enc(IK_A) ‖ Enc(IK_B) ‖ lp(userId_A) ‖ lp(userId_B), initiator first', () => {
    const ad = associatedData(alice.keyPair.publicKey, alice.userId, bob.keyPair.publicKey, bob.userId);
    expect(ad.length).toBe(1 + 33 + 33 + 2 + 32 + 2 + 32);
    expect(ad[0]).toBe(1);
    expect(ad.subarray(1, 34)).toEqual(Uint8Array.of(1, ...alice.keyPair.publicKey));
    expect(ad.subarray(34, 67)).toEqual(Uint8Array.of(1, ...bob.keyPair.publicKey));
    expect(x3dhInitiate(crypto, alice, bundle).secrets.associatedData).toEqual(ad);
  });

  it('zeroes the ephemeral private key after use', () => {
    let ek: KeyPair | undefined;
    const spy: Crypto = { ...crypto, x25519KeyPair: () => (ek = crypto.x25519KeyPair()) };
    x3dhInitiate(spy, alice, bundle);
    expect(ek!.privateKey.every((b) => b === 0)).toBe(true);
  });

  it('picks the one-time prekey at random from crypto.randomBytes, without modulo bias', () => {
    const picked = new Set<number | null>();
    for (let i = 0; i < 40; i++) picked.add(x3dhInitiate(scriptedCrypto(crypto, `pick/${i}`), alice, bundle).oneTimePrekeyId);
    expect(picked.size).toBeGreaterThan(20);
    for (const id of picked) expect(bundle.oneTimePrekeys.map((k) => k.id)).toContain(id);
    // 0xffffffff is above the largest multiple of 3 below 2^32: rejected, the next draw is used
    const draws = [Uint8Array.of(0xff, 0xff, 0xff, 0xff), Uint8Array.of(0, 0, 0, 5)];
    const scripted: Crypto = { ...crypto, randomBytes: () => draws.shift()! };
    expect(randomIndex(scripted, 3)).toBe(2);
  });

  it('the responder refuses unknown or consumed prekeys with StalePrekey', () => {
    const x = x3dhInitiate(crypto, alice, bundle);
    expect(codeOf(() => x3dhRespond(crypto, bob, prekeys, aliceClaim(), x.ephemeralKey, { ...x, signedPrekeyId: 99 }))).toBe('StalePrekey');
    const used = consumeOneTimePrekey(prekeys, x.oneTimePrekeyId!);
    expect(codeOf(() => x3dhRespond(crypto, bob, used, aliceClaim(), x.ephemeralKey, x))).toBe('StalePrekey');
  });

  it('the responder refuses a low-order or malformed ephemeral key with InvalidKey', () => {
    const x = x3dhInitiate(crypto, alice, bundle);
    const lowOrder = fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');
    expect(codeOf(() => x3dhRespond(crypto, bob, prekeys, aliceClaim(), lowOrder, x))).toBe('InvalidKey');
    const topBit = x.ephemeralKey.slice();
    topBit[31] = topBit[31]! | 0x80;
    expect(codeOf(() => x3dhRespond(crypto, bob, prekeys, aliceClaim(), topBit, x))).toBe('InvalidKey');
  });

  it('binds the initiator identity: another claimed sender derives another key', () => {
    const x = x3dhInitiate(crypto, alice, bundle);
    const mallory = createIdentity(crypto);
    const r = x3dhRespond(crypto, bob, prekeys, { identityKey: mallory.keyPair.publicKey, userId: mallory.userId }, x.ephemeralKey, x);
    expect(r.secrets.sharedSecret).not.toEqual(x.secrets.sharedSecret);
  });
});
