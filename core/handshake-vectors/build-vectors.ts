/**
 * Builds the handshake golden vectors from fixed seeds with a scripted Crypto (deterministic
 * randomness). x3dh.test.ts and envelope.test.ts compare these values with the frozen JSON files beside
 * this one; `npx tsx core/handshake-vectors/build-vectors.ts` prints them. Regenerate only
 * on a deliberate, versioned format change: the labels and layouts are frozen.
 */
import type { Crypto } from '../crypto.ts';
import { toHex } from '../bytes.ts';
import { identityFromKeyPair, type LocalIdentity } from '../identity.ts';
import { createPrekeyState, type PrekeyState } from '../prekeys.ts';
import { buildBundle, verifyBundle, type VerifiedBundle } from '../bundle.ts';
import { x3dhInitiate, x3dhRespond, type InitiatorResult, type ResponderResult } from '../x3dh.ts';
import { pqxdhInitiate, pqxdhRespond } from '../pqxdh.ts';
import { encodePrekeyState } from '../prekeys.ts';
import { encodeEnvelope, routingTag, sealSender } from '../envelope.ts';
import { scriptedCrypto } from './scripted-crypto.ts';

export const VECTOR_TIME = 1_700_000_000_000;

/** The fields every handshake vector opens with: the seeds of both parties and the prekeys used. */
export interface VectorPartyFields {
  name: string;
  aliceIdentitySeed: string;
  bobIdentitySeed: string;
  bobSignedPrekeyPrivate: string;
  oneTimePrekeyId: number | null;
  oneTimePrekeyPrivate: string | null;
}

/** The derived secrets every handshake vector holds. */
export interface VectorSecretFields {
  sharedSecret: string;
  sharedHeaderKeyA: string;
  sharedNextHeaderKeyB: string;
  associatedData: string;
  replayId: string;
  handshakeId: string;
  sealKey: string;
}

export interface X3dhVector extends VectorPartyFields, VectorSecretFields {
  ephemeralPrivate: string;
  ephemeralPublic: string;
}

/** What both handshake vectors start from: two identities and Bob's verified bundle, from `${name}/setup`. */
interface VectorSetup {
  aliceSeed: Uint8Array;
  bobSeed: Uint8Array;
  alice: LocalIdentity;
  bob: LocalIdentity;
  prekeys: PrekeyState;
  built: ReturnType<typeof buildBundle>;
  bundle: VerifiedBundle;
}

/** `prekeySource` lets a vector record how Bob's prekeys are drawn from the setup stream. */
function vectorSetup(base: Crypto, name: string, prekeySource: (setup: Crypto) => Crypto = (setup) => setup): VectorSetup {
  const setup = scriptedCrypto(base, `${name}/setup`);
  const aliceSeed = setup.randomBytes(32);
  const bobSeed = setup.randomBytes(32);
  const alice = identityFromKeyPair(base, base.ed25519KeyPairFromSeed(aliceSeed));
  const bob = identityFromKeyPair(base, base.ed25519KeyPairFromSeed(bobSeed));
  const prekeys = createPrekeyState(prekeySource(setup), VECTOR_TIME);
  const built = buildBundle(base, bob, prekeys, VECTOR_TIME);
  const bundle = verifyBundle(base, built.bundle, bob.userId, VECTOR_TIME);
  return { aliceSeed, bobSeed, alice, bob, prekeys, built, bundle };
}

/**
 * Alice's run stream `${name}/initiate`, keeping the private half of the ephemeral key it makes;
 * `more` adds further recording overrides on the same stream.
 */
function recordingRun(base: Crypto, name: string, more: (run: Crypto) => Partial<Crypto> = () => ({})): { recording: Crypto; ephemeralPrivate: () => Uint8Array } {
  const run = scriptedCrypto(base, `${name}/initiate`);
  let ephemeralPrivate = new Uint8Array(0);
  const recording: Crypto = {
    ...run,
    x25519KeyPair: () => {
      const kp = run.x25519KeyPair();
      ephemeralPrivate = kp.privateKey.slice();
      return kp;
    },
    ...more(run),
  };
  return { recording, ephemeralPrivate: () => ephemeralPrivate };
}

/** The leading fields both vectors share (after checking that both sides agree). */
function partyFields(name: string, s: VectorSetup, a: InitiatorResult, b: ResponderResult): VectorPartyFields {
  if (toHex(a.secrets.sharedSecret) !== toHex(b.secrets.sharedSecret)) throw new Error('vector: sides disagree');
  const opk = a.oneTimePrekeyId === null ? null : s.prekeys.oneTimePrekeys.find((k) => k.id === a.oneTimePrekeyId)!;
  return {
    name,
    aliceIdentitySeed: toHex(s.aliceSeed),
    bobIdentitySeed: toHex(s.bobSeed),
    bobSignedPrekeyPrivate: toHex(s.prekeys.signedPrekeys[0]!.keyPair.privateKey),
    oneTimePrekeyId: a.oneTimePrekeyId,
    oneTimePrekeyPrivate: opk === null ? null : toHex(opk.keyPair.privateKey),
  };
}

/** The derived secrets both vectors end their shared part with. */
function secretFields(a: InitiatorResult): VectorSecretFields {
  return {
    sharedSecret: toHex(a.secrets.sharedSecret),
    sharedHeaderKeyA: toHex(a.secrets.sharedHeaderKeyA),
    sharedNextHeaderKeyB: toHex(a.secrets.sharedNextHeaderKeyB),
    associatedData: toHex(a.secrets.associatedData),
    replayId: toHex(a.replayId),
    handshakeId: toHex(a.handshakeId),
    sealKey: toHex(a.sealKey),
  };
}

export function buildX3dhVector(base: Crypto, name: string, useOneTimePrekey: boolean): X3dhVector {
  const s = vectorSetup(base, name);
  const { recording, ephemeralPrivate } = recordingRun(base, name);
  const a = x3dhInitiate(recording, s.alice, s.bundle, { useOneTimePrekey });
  const b = x3dhRespond(base, s.bob, s.prekeys, { identityKey: s.alice.keyPair.publicKey, userId: s.alice.userId }, a.ephemeralKey, a);
  return {
    ...partyFields(name, s, a, b),
    ephemeralPrivate: toHex(ephemeralPrivate()),
    ephemeralPublic: toHex(a.ephemeralKey),
    ...secretFields(a),
  };
}

export interface PqxdhVector extends VectorPartyFields, VectorSecretFields {
  pqPrekeyId: number;
  /** Whether the PQ prekey used is the last-resort one. */
  pqLastResort: boolean;
  /** The ML-KEM-768 seed (d ‖ z) of the PQ prekey used. */
  pqPrekeySeed: string;
  ephemeralPrivate: string;
  /** m of the encapsulation. */
  kemRandomness: string;
  kemCiphertextSha256: string;
  kemSharedSecret: string;
  /** SHA-256 of the whole format-2 bundle and of the encoded prekey state (record version 2). */
  bundleSha256: string;
  bundleBytes: number;
  prekeyStateSha256: string;
}

/**
 * PQXDH from fixed seeds: Bob's prekey state from a scripted stream (so every PQ key is known by its
 * seed), Alice's side with recorded ephemeral and KEM randomness.
 */
export function buildPqxdhVector(base: Crypto, name: string, useOneTimePrekey: boolean): PqxdhVector {
  const kemSeeds: Uint8Array[] = [];
  const s = vectorSetup(base, name, (setup) => ({
    ...setup,
    kemKeyPair: () => {
      const seed = setup.randomBytes(64);
      kemSeeds.push(seed);
      return base.kemKeyPairFromSeed(seed);
    },
  }));
  let kemRandomness: Uint8Array = new Uint8Array(0);
  let kemSharedSecret: Uint8Array = new Uint8Array(0);
  const { recording, ephemeralPrivate } = recordingRun(base, name, (run) => ({
    kemEncapsulate: (publicKey) => {
      kemRandomness = run.randomBytes(32);
      const e = base.kemEncapsulateWithRandomness(publicKey, kemRandomness);
      kemSharedSecret = e.sharedSecret.slice();
      return e;
    },
  }));
  const a = pqxdhInitiate(recording, s.alice, s.bundle, { useOneTimePrekey });
  const b = pqxdhRespond(base, s.bob, s.prekeys, { identityKey: s.alice.keyPair.publicKey, userId: s.alice.userId }, a.ephemeralKey, a.kemCiphertext, a);
  // PQ prekeys are issued in id order from the stream: last-resort #1, then one-time #2.. (prekeys.ts).
  const pqLastResort = s.prekeys.pqLastResortPrekeys.some((k) => k.id === a.pqPrekeyId);
  return {
    ...partyFields(name, s, a, b),
    pqPrekeyId: a.pqPrekeyId,
    pqLastResort,
    pqPrekeySeed: toHex(kemSeeds[a.pqPrekeyId - 1]!),
    ephemeralPrivate: toHex(ephemeralPrivate()),
    kemRandomness: toHex(kemRandomness),
    kemCiphertextSha256: toHex(base.sha256(a.kemCiphertext)),
    kemSharedSecret: toHex(kemSharedSecret),
    ...secretFields(a),
    bundleSha256: toHex(base.sha256(s.built.bundle)),
    bundleBytes: s.built.bundle.length,
    prekeyStateSha256: toHex(base.sha256(encodePrekeyState(s.built.next))),
  };
}

export interface EnvelopeVector {
  headerKey: string;
  ratchetMessage: string;
  sessionEnvelope: string;
  handshakeEnvelope: string;
}

/** A fixed stand-in ratchet message (the envelope does not look inside it). */
export function fakeRatchetMessage(): Uint8Array {
  return Uint8Array.from({ length: 384 }, (_, i) => (i * 37 + 11) & 0xff);
}

export function buildEnvelopeVector(base: Crypto): EnvelopeVector {
  const s = scriptedCrypto(base, 'envelope/v1');
  const headerKey = s.randomBytes(32);
  const message = fakeRatchetMessage();
  const alice = identityFromKeyPair(base, base.ed25519KeyPairFromSeed(s.randomBytes(32)));
  const bob = identityFromKeyPair(base, base.ed25519KeyPairFromSeed(s.randomBytes(32)));
  // The PQ prekeys (which this classic vector does not use) draw from real randomness, so the stream
  // continues exactly as it did before PQXDH existed.
  const prekeys = createPrekeyState({ ...s, kemKeyPair: () => base.kemKeyPair() }, VECTOR_TIME);
  const bundle = verifyBundle(base, buildBundle(base, bob, prekeys, VECTOR_TIME).bundle, bob.userId, VECTOR_TIME);
  const x = x3dhInitiate(s, alice, bundle);
  const sealed = sealSender(s, x.sealKey, x.ephemeralKey, bob.keyPair.publicKey, {
    identityKey: alice.keyPair.publicKey,
    signedPrekeyId: x.signedPrekeyId,
    oneTimePrekeyId: x.oneTimePrekeyId,
    bundleVersion: bundle.bundleVersion,
    epoch: VECTOR_TIME,
  });
  return {
    headerKey: toHex(headerKey),
    ratchetMessage: toHex(message),
    sessionEnvelope: toHex(encodeEnvelope({ kind: 'session', tag: routingTag(base, headerKey), message })),
    handshakeEnvelope: toHex(encodeEnvelope({ kind: 'handshake', ephemeralKey: x.ephemeralKey as never, sealed, message })),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { createSodiumCrypto } = await import('../../crypto/sodium.ts');
  const c = await createSodiumCrypto();
  console.log(JSON.stringify({ x3dh: [buildX3dhVector(c, 'x3dh/with-opk', true), buildX3dhVector(c, 'x3dh/without-opk', false)] }, null, 2));
  console.log(JSON.stringify(buildEnvelopeVector(c), null, 2));
  console.log(JSON.stringify([buildPqxdhVector(c, 'pqxdh/one-time', true), buildPqxdhVector(c, 'pqxdh/last-resort', false)], null, 2));
}
