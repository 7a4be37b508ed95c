/**
 * X3DH key agreement (Signal X3DH §3), both roles.
 *
 *   DH1 = X25519(IK_A, SPK_B)   DH2 = X25519(EK_A, IK_B)   DH3 = X25519(EK_A, SPK_B)   DH4 = X25519(EK_A, OPK_B)
 *   SK ‖ HKa ‖ NHKb = HKDF(salt 0^32, 0xFF^32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], "ratchetd-v1/X3DH", 96)
 *   AD = version ‖ Enc(IK_A) ‖ Enc(IK_B) ‖ lp(userId_A) ‖ lp(userId_B)          (initiator first)
 *   replay id = HKDF(0^32, SK, "ratchetd-v1/replay-id", 16)
 *   seal key  = HKDF(0^32, DH2, "ratchetd-v1/seal", 32)   (the sealed-sender block, envelope.ts)
 *   handshake id = SHA-256("ratchetd-v1/handshake-id" ‖ Enc(IK_A) ‖ Enc(IK_B) ‖ EK_A ‖ spk id ‖ opk)[0..16]
 * IK keys enter DH in their X25519 form (identityDhPrivate/identityDhPublic). The ephemeral private key,
 * the DH outputs, the IKM and the HKDF output are zeroed after use. Without a one-time prekey DH4 is
 * left out (and the responder's replay cache is what stops a replay). The handshake id
 * is computable from the envelope alone, so the responder finds an existing session for a repeated
 * handshake before it looks up prekeys.
 */
import type { Crypto, KeyPair } from './crypto.ts';
import { Writer, concat, lp, utf8 } from './bytes.ts';
import { PROTOCOL_VERSION } from './limits.ts';
import { dh, encodeEd25519PublicKey, identityDhPrivate, identityDhPublic } from './keys.ts';
import type { LocalIdentity } from './identity.ts';
import type { BundlePrekey, VerifiedBundle } from './bundle.ts';
import { requireOneTimePrekey, requireSignedPrekey, type PrekeyState } from './prekeys.ts';
import type { UserId } from './user-id.ts';

const X3DH_INFO = utf8.encode('ratchetd-v1/X3DH');
const REPLAY_ID_INFO = utf8.encode('ratchetd-v1/replay-id');
const SEAL_INFO = utf8.encode('ratchetd-v1/seal');
const HANDSHAKE_ID_LABEL = utf8.encode('ratchetd-v1/handshake-id');
const PQ_HANDSHAKE_ID_LABEL = utf8.encode('ratchetd-v1/pq-handshake-id');
const ZERO_SALT = new Uint8Array(32);
const F_PREFIX = new Uint8Array(32).fill(0xff);
export const REPLAY_ID_BYTES = 16;
export const HANDSHAKE_ID_BYTES = 16;

/** Same shape as ratchet.ts RatchetInit: what the Double Ratchet is initialised with. */
export interface X3dhSecrets {
  /** SK */
  readonly sharedSecret: Uint8Array;
  /** HKa: the initiator's first sending header key */
  readonly sharedHeaderKeyA: Uint8Array;
  /** NHKb: the responder's first next sending header key */
  readonly sharedNextHeaderKeyB: Uint8Array;
  /** AD */
  readonly associatedData: Uint8Array;
}

/** What identifies one handshake on both sides (what the sealed-sender block carries). */
export interface HandshakeParameters {
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId: number | null;
  /** The PQ prekey of a PQXDH handshake (pqxdh.ts); absent or null for X3DH. */
  readonly pqPrekeyId?: number | null;
}

export interface InitiatorResult extends HandshakeParameters {
  readonly secrets: X3dhSecrets;
  readonly replayId: Uint8Array;
  readonly handshakeId: Uint8Array;
  /** EK_A public */
  readonly ephemeralKey: Uint8Array;
  /** Key of the sealed-sender block (from DH2). The caller zeroes it after sealing. */
  readonly sealKey: Uint8Array;
  /** SPK_B raw public key: DHr of the initiator's ratchet. */
  readonly responderSignedPrekey: Uint8Array;
}

export interface ResponderResult {
  readonly secrets: X3dhSecrets;
  readonly replayId: Uint8Array;
  /** SPK_B key pair: DHs of the responder's ratchet. */
  readonly signedPrekeyPair: KeyPair;
}

/** AD = version ‖ Enc(IK_A) ‖ Enc(IK_B) ‖ lp(userId_A) ‖ lp(userId_B). */
export function associatedData(
  initiatorIdentityKey: Uint8Array,
  initiatorUserId: UserId,
  responderIdentityKey: Uint8Array,
  responderUserId: UserId,
): Uint8Array {
  return concat(
    Uint8Array.of(PROTOCOL_VERSION),
    encodeEd25519PublicKey(initiatorIdentityKey),
    encodeEd25519PublicKey(responderIdentityKey),
    lp(utf8.encode(initiatorUserId)),
    lp(utf8.encode(responderUserId)),
  );
}

export function deriveReplayId(crypto: Crypto, sk: Uint8Array): Uint8Array {
  return crypto.hkdf(ZERO_SALT, sk, REPLAY_ID_INFO, REPLAY_ID_BYTES);
}

/** Key of the sealed-sender block from X25519(EK_A, IK_B) (= DH2). */
export function deriveSealKey(crypto: Crypto, dh2: Uint8Array): Uint8Array {
  return crypto.hkdf(ZERO_SALT, dh2, SEAL_INFO, 32);
}

export function deriveHandshakeId(
  crypto: Crypto,
  initiatorIdentityKey: Uint8Array,
  responderIdentityKey: Uint8Array,
  ephemeralKey: Uint8Array,
  params: HandshakeParameters,
): Uint8Array {
  const pq = params.pqPrekeyId ?? null;
  const w = new Writer()
    .fixed(pq === null ? HANDSHAKE_ID_LABEL : PQ_HANDSHAKE_ID_LABEL)
    .fixed(encodeEd25519PublicKey(initiatorIdentityKey))
    .fixed(encodeEd25519PublicKey(responderIdentityKey))
    .fixed(ephemeralKey)
    .u32(params.signedPrekeyId)
    .bool(params.oneTimePrekeyId !== null)
    .u32(params.oneTimePrekeyId ?? 0);
  if (pq !== null) w.u32(pq); // PQXDH: "ratchetd-v1/pq-handshake-id" ‖ … ‖ pq prekey id u32
  return crypto.sha256(w.finish()).slice(0, HANDSHAKE_ID_BYTES);
}

/**
 * HKDF over the secrets (DH outputs, and the KEM secret for PQXDH; the caller zeroes those) under
 * `info`; zeroes the IKM and the HKDF output.
 */
export function deriveSecrets(crypto: Crypto, inputs: Uint8Array[], ad: Uint8Array, info: Uint8Array = X3DH_INFO): X3dhSecrets {
  const ikm = concat(F_PREFIX, ...inputs);
  const okm = crypto.hkdf(ZERO_SALT, ikm, info, 96);
  const secrets = {
    sharedSecret: okm.slice(0, 32),
    sharedHeaderKeyA: okm.slice(32, 64),
    sharedNextHeaderKeyB: okm.slice(64, 96),
    associatedData: ad,
  };
  crypto.zero(ikm);
  crypto.zero(okm);
  return secrets;
}

/** Uniform index in [0, n) from crypto.randomBytes (rejection sampling, no modulo bias). */
export function randomIndex(crypto: Crypto, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new RangeError('randomIndex: bad range');
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  for (;;) {
    const b = crypto.randomBytes(4);
    const v = ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
    if (v < limit) return v % n;
  }
}

/** The one-time prekey an initiator uses: one at random, unless `use` is false or the bundle has none. */
export function chooseOneTimePrekey(crypto: Crypto, bundle: VerifiedBundle, use: boolean): BundlePrekey | null {
  return use && bundle.oneTimePrekeys.length > 0 ? bundle.oneTimePrekeys[randomIndex(crypto, bundle.oneTimePrekeys.length)]! : null;
}

/**
 * What a hybrid agreement (PQXDH, pqxdh.ts) adds to X3DH's: a secret that enters the KDF after the
 * DH outputs (zeroed with them), the KDF's info string, and an extension of the AD.
 */
export interface HybridPart {
  readonly sharedSecret: Uint8Array;
  readonly info: Uint8Array;
  extendAd(classicAd: Uint8Array): Uint8Array;
}

/**
 * The initiator's agreement behind X3DH and PQXDH: a fresh EK_A, DH1..DH3 [DH4] (and the hybrid
 * secret) into one KDF under the AD. `params` name the prekeys used (they enter the handshake id).
 */
export function initiatorAgreement<P extends HandshakeParameters>(
  crypto: Crypto,
  own: LocalIdentity,
  bundle: VerifiedBundle,
  opk: BundlePrekey | null,
  params: P,
  hybrid: HybridPart | null,
): InitiatorResult & P {
  const spk = bundle.signedPrekey;
  const ikB = identityDhPublic(crypto, bundle.identityKey);
  const ikA = identityDhPrivate(crypto, own.keyPair.privateKey);
  const ek = crypto.x25519KeyPair(); // EK_A
  const inputs: Uint8Array[] = [];
  try {
    inputs.push(dh(crypto, ikA, spk.publicKey)); // DH1
    inputs.push(dh(crypto, ek.privateKey, ikB)); // DH2
    inputs.push(dh(crypto, ek.privateKey, spk.publicKey)); // DH3
    if (opk !== null) inputs.push(dh(crypto, ek.privateKey, opk.publicKey)); // DH4
    const sealKey = deriveSealKey(crypto, inputs[1]!);
    const classicAd = associatedData(own.keyPair.publicKey, own.userId, bundle.identityKey, bundle.userId);
    if (hybrid !== null) inputs.push(hybrid.sharedSecret); // SS
    const ad = hybrid === null ? classicAd : hybrid.extendAd(classicAd);
    const secrets = deriveSecrets(crypto, inputs, ad, hybrid?.info);
    return {
      ...params,
      secrets,
      replayId: deriveReplayId(crypto, secrets.sharedSecret),
      handshakeId: deriveHandshakeId(crypto, own.keyPair.publicKey, bundle.identityKey, ek.publicKey, params),
      ephemeralKey: ek.publicKey.slice(),
      sealKey,
      responderSignedPrekey: spk.publicKey.slice(),
    };
  } finally {
    crypto.zero(ek.privateKey);
    crypto.zero(ikA);
    for (const d of inputs) crypto.zero(d);
    if (hybrid !== null) crypto.zero(hybrid.sharedSecret);
  }
}

/**
 * The responder's agreement behind X3DH and PQXDH, with the prekeys already looked up; `hybrid`
 * (PQXDH's decapsulation) runs after the DH outputs, inside the same zeroing.
 */
export function responderAgreement(
  crypto: Crypto,
  own: LocalIdentity,
  spk: { keyPair: KeyPair },
  opk: { keyPair: KeyPair } | null,
  initiator: { identityKey: Uint8Array; userId: UserId },
  ephemeralKey: Uint8Array,
  hybrid: (() => HybridPart) | null,
): ResponderResult {
  const ikA = identityDhPublic(crypto, initiator.identityKey);
  const ikB = identityDhPrivate(crypto, own.keyPair.privateKey);
  const inputs: Uint8Array[] = [];
  try {
    inputs.push(dh(crypto, spk.keyPair.privateKey, ikA)); // DH1
    inputs.push(dh(crypto, ikB, ephemeralKey)); // DH2
    inputs.push(dh(crypto, spk.keyPair.privateKey, ephemeralKey)); // DH3
    if (opk !== null) inputs.push(dh(crypto, opk.keyPair.privateKey, ephemeralKey)); // DH4
    const part = hybrid?.() ?? null;
    if (part !== null) inputs.push(part.sharedSecret); // SS
    const classicAd = associatedData(initiator.identityKey, initiator.userId, own.keyPair.publicKey, own.userId);
    const secrets = deriveSecrets(crypto, inputs, part === null ? classicAd : part.extendAd(classicAd), part?.info);
    return { secrets, replayId: deriveReplayId(crypto, secrets.sharedSecret), signedPrekeyPair: spk.keyPair };
  } finally {
    crypto.zero(ikB);
    for (const d of inputs) crypto.zero(d);
  }
}

/**
 * The initiator's side. Picks a one-time prekey at random unless `useOneTimePrekey` is false or the
 * bundle has none (then no DH4).
 */
export function x3dhInitiate(
  crypto: Crypto,
  own: LocalIdentity,
  bundle: VerifiedBundle,
  options: { useOneTimePrekey?: boolean } = {},
): InitiatorResult {
  const opk = chooseOneTimePrekey(crypto, bundle, options.useOneTimePrekey !== false);
  return initiatorAgreement(crypto, own, bundle, opk, { signedPrekeyId: bundle.signedPrekey.id, oneTimePrekeyId: opk?.id ?? null }, null);
}

/**
 * The responder's side: looks up SPK_B and OPK_B (StalePrekey if either is unknown) and derives the
 * same secrets. Changes nothing: consuming the OPK is the caller's business once the message decrypts.
 */
export function x3dhRespond(
  crypto: Crypto,
  own: LocalIdentity,
  prekeys: PrekeyState,
  initiator: { identityKey: Uint8Array; userId: UserId },
  ephemeralKey: Uint8Array,
  params: HandshakeParameters,
): ResponderResult {
  const spk = requireSignedPrekey(prekeys, params.signedPrekeyId);
  const opk = params.oneTimePrekeyId === null ? null : requireOneTimePrekey(prekeys, params.oneTimePrekeyId);
  return responderAgreement(crypto, own, spk, opk, initiator, ephemeralKey, null);
}
