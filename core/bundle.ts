/**
 * The published prekey bundle: the WHOLE bundle is signed with the identity key, so a
 * relay can neither swap one-time prekeys nor replay an old bundle unnoticed.
 *
 * Wire format (all integers big-endian):
 *   version u8 (= PROTOCOL_VERSION)
 *   Enc(IK_B)                 33   (0x01 ‖ Ed25519)
 *   signed prekey id          u32
 *   Enc(SPK_B)                33   (0x05 ‖ X25519)
 *   signed prekey created_at  u64  (ms)
 *   bundle version            u32  (increases with every bundle the owner builds)
 *   created_at                u64  (ms)
 *   one-time prekey count     u16  (≤ MAX_BUNDLE_ONE_TIME_PREKEYS)
 *   count × (id u32 ‖ Enc(OPK_B) 33)   strictly increasing ids
 *   ── format 2 only (PQXDH; the first byte is then 2, not PROTOCOL_VERSION):
 *   last-resort PQ prekey     id u32 ‖ created_at u64 ‖ ML-KEM-768 public key 1184
 *   one-time PQ prekey count  u8   (≤ MAX_BUNDLE_PQ_ONE_TIME_PREKEYS)
 *   count × (id u32 ‖ ML-KEM-768 public key 1184)   strictly increasing ids, none the last-resort id
 *   ──
 *   signature                 64   Ed25519(IK_B, "ratchetd-v1/bundle" ‖ every byte above)
 *
 * Every PQ prekey is inside the whole-bundle signature: the relay cannot strip or swap one. The owner
 * builds format 2 once it has PQ prekeys (every daemon of this version does); format 1 is still read,
 * for bundles of daemons of the previous version (see conversation.ts for what that allows).
 * With 100 one-time prekeys and 10 one-time PQ prekeys a format-2 bundle is 16,934 bytes.
 *
 * verifyBundle checks, in order: format, that IK_B hashes to the expected user id (WrongRecipient),
 * the signature (BadSignature), staleness (StaleBundle), future dating (FutureBundle), and that the
 * bundle version is not below the highest one seen from this peer (RolledBackBundle).
 */
import type { Crypto } from './crypto.ts';
import { DecodeError, HandshakeError } from './errors.ts';
import { Reader, Writer, concat, utf8 } from './bytes.ts';
import { BUNDLE_MAX_AGE_MS, BUNDLE_MAX_FUTURE_SKEW_MS, ONE_TIME_PREKEYS_TARGET, PROTOCOL_VERSION } from './limits.ts';
import {
  ENCODED_KEY_BYTES,
  decodeEd25519PublicKey,
  decodeX25519PublicKey,
  encodeEd25519PublicKey,
  encodeX25519PublicKey,
  identityDhPublic,
  type Ed25519PublicKey,
  type X25519PublicKey,
} from './keys.ts';
import type { LocalIdentity } from './identity.ts';
import {
  KEM_PUBLIC_KEY_BYTES,
  currentPqLastResortPrekey,
  currentSignedPrekey,
  withBundleVersion,
  withPqSince,
  type PrekeyState,
} from './prekeys.ts';
import { PQ_ONE_TIME_PREKEYS_TARGET } from './limits.ts';
import { deriveUserId, type UserId } from './user-id.ts';

const BUNDLE_SIGNATURE_LABEL = utf8.encode('ratchetd-v1/bundle');
export const SIGNATURE_BYTES = 64;
/** A bundle carries at most this many one-time prekeys (twice the target: room for growth, bounded parsing). */
export const MAX_BUNDLE_ONE_TIME_PREKEYS = 2 * ONE_TIME_PREKEYS_TARGET;

export interface BundlePrekey {
  readonly id: number;
  readonly publicKey: X25519PublicKey;
}

/** Bundle format 2 (first byte): format 1 (= PROTOCOL_VERSION) plus the PQ prekeys. */
export const BUNDLE_FORMAT_PQ = 2;
/** A bundle carries at most this many one-time PQ prekeys. */
export const MAX_BUNDLE_PQ_ONE_TIME_PREKEYS = 2 * PQ_ONE_TIME_PREKEYS_TARGET;

/** An ML-KEM-768 prekey as published (1,184-byte encapsulation key). */
export interface BundlePqPrekey {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

/** The PQ part of a format-2 bundle. */
export interface BundlePqPrekeys {
  readonly lastResort: BundlePqPrekey & { readonly createdAt: number };
  readonly oneTime: readonly BundlePqPrekey[];
}

/** A bundle whose signature, owner, age and version were checked. */
export interface VerifiedBundle {
  readonly userId: UserId;
  /** IK_B, raw Ed25519 public key. */
  readonly identityKey: Ed25519PublicKey;
  readonly signedPrekey: BundlePrekey & { readonly createdAt: number };
  readonly oneTimePrekeys: readonly BundlePrekey[];
  readonly bundleVersion: number;
  readonly createdAt: number;
  /** The PQ prekeys (format 2), or null for a format-1 bundle (a daemon of the previous version). */
  readonly pq: BundlePqPrekeys | null;
}

interface ParsedBundle {
  readonly identityKey: Ed25519PublicKey;
  readonly signedPrekey: BundlePrekey & { readonly createdAt: number };
  readonly oneTimePrekeys: BundlePrekey[];
  readonly bundleVersion: number;
  readonly createdAt: number;
  readonly pq: BundlePqPrekeys | null;
  /** Everything the signature covers (without the label). */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * Builds and signs a bundle with every unconsumed one-time prekey (and, when the state has PQ
 * prekeys, format 2 with the last-resort and every one-time PQ prekey); the bundle version goes up
 * by one.
 */
export function buildBundle(
  crypto: Crypto,
  identity: LocalIdentity,
  prekeys: PrekeyState,
  now: number,
): { bundle: Uint8Array; next: PrekeyState } {
  const spk = currentSignedPrekey(prekeys);
  const bundleVersion = prekeys.bundleVersion + 1;
  const opks = prekeys.oneTimePrekeys.slice(0, MAX_BUNDLE_ONE_TIME_PREKEYS);
  const lastResort = currentPqLastResortPrekey(prekeys);
  const w = new Writer()
    .u8(lastResort === null ? PROTOCOL_VERSION : BUNDLE_FORMAT_PQ)
    .fixed(encodeEd25519PublicKey(identity.keyPair.publicKey))
    .u32(spk.id)
    .fixed(encodeX25519PublicKey(spk.keyPair.publicKey))
    .u64(spk.createdAt)
    .u32(bundleVersion)
    .u64(now)
    .u16(opks.length);
  for (const k of opks) w.u32(k.id).fixed(encodeX25519PublicKey(k.keyPair.publicKey));
  let next = withBundleVersion(prekeys, bundleVersion);
  if (lastResort !== null) {
    const pqOpks = prekeys.pqOneTimePrekeys.slice(0, MAX_BUNDLE_PQ_ONE_TIME_PREKEYS);
    w.u32(lastResort.id).u64(lastResort.createdAt).fixed(lastResort.keyPair.publicKey).u8(pqOpks.length);
    for (const k of pqOpks) w.u32(k.id).fixed(k.keyPair.publicKey);
    next = withPqSince(next, bundleVersion);
  }
  const signed = w.finish();
  const signature = crypto.sign(concat(BUNDLE_SIGNATURE_LABEL, signed), identity.keyPair.privateKey);
  return { bundle: concat(signed, signature), next };
}

/** Parses the format only (no signature or freshness check); DecodeError on anything malformed. */
function parseBundle(bytes: Uint8Array): ParsedBundle {
  const r = new Reader(bytes, 'bundle');
  const format = r.u8();
  if (format !== PROTOCOL_VERSION && format !== BUNDLE_FORMAT_PQ) throw new DecodeError('bundle: unsupported version', 'UnsupportedVersion');
  const identityKey = decodeEd25519PublicKey(r.fixed(ENCODED_KEY_BYTES));
  const spkId = r.u32();
  const spk = decodeX25519PublicKey(r.fixed(ENCODED_KEY_BYTES));
  const spkCreatedAt = r.u64();
  const bundleVersion = r.u32();
  const createdAt = r.u64();
  const count = r.u16();
  if (count > MAX_BUNDLE_ONE_TIME_PREKEYS) throw new DecodeError('bundle: too many one-time prekeys');
  const oneTimePrekeys: BundlePrekey[] = [];
  for (let i = 0; i < count; i++) {
    const id = r.u32();
    const previous = oneTimePrekeys[i - 1];
    if (previous !== undefined && id <= previous.id) throw new DecodeError('bundle: one-time prekey ids out of order');
    oneTimePrekeys.push({ id, publicKey: decodeX25519PublicKey(r.fixed(ENCODED_KEY_BYTES)) });
  }
  const pq = format === BUNDLE_FORMAT_PQ ? parsePqPrekeys(r) : null;
  const signedLength = bytes.length - r.remaining;
  const signature = r.fixed(SIGNATURE_BYTES);
  r.end();
  return {
    identityKey,
    signedPrekey: { id: spkId, publicKey: spk, createdAt: spkCreatedAt },
    oneTimePrekeys,
    bundleVersion,
    createdAt,
    pq,
    signed: bytes.slice(0, signedLength),
    signature,
  };
}

function parsePqPrekeys(r: Reader): BundlePqPrekeys {
  const lastResort = { id: r.u32(), createdAt: r.u64(), publicKey: r.fixed(KEM_PUBLIC_KEY_BYTES) };
  const count = r.u8();
  if (count > MAX_BUNDLE_PQ_ONE_TIME_PREKEYS) throw new DecodeError('bundle: too many one-time PQ prekeys');
  const oneTime: BundlePqPrekey[] = [];
  for (let i = 0; i < count; i++) {
    const id = r.u32();
    const previous = oneTime[i - 1];
    if (previous !== undefined && id <= previous.id) throw new DecodeError('bundle: one-time PQ prekey ids out of order');
    if (id === lastResort.id) throw new DecodeError('bundle: a one-time PQ prekey has the last-resort id');
    oneTime.push({ id, publicKey: r.fixed(KEM_PUBLIC_KEY_BYTES) });
  }
  return { lastResort, oneTime };
}

/**
 * Checks a bundle fetched from the relay for `expectedUserId`. `lastSeenBundleVersion` is the highest
 * bundle version already seen from this peer (PeerRecord.peerBundleVersion), if any.
 */
export function verifyBundle(
  crypto: Crypto,
  bytes: Uint8Array,
  expectedUserId: UserId,
  now: number,
  lastSeenBundleVersion?: number,
): VerifiedBundle {
  const b = parseBundle(bytes);
  const userId = deriveUserId(crypto, b.identityKey);
  if (userId !== expectedUserId) throw new HandshakeError('WrongRecipient', 'bundle: identity key does not belong to the expected user');
  if (!crypto.verify(b.signature, concat(BUNDLE_SIGNATURE_LABEL, b.signed), b.identityKey)) {
    throw new HandshakeError('BadSignature', 'bundle: bad signature');
  }
  identityDhPublic(crypto, b.identityKey); // IK_B must be usable for DH2 (InvalidKey otherwise)
  if (b.createdAt > now + BUNDLE_MAX_FUTURE_SKEW_MS) throw new HandshakeError('FutureBundle', 'bundle: created in the future');
  if (now - b.createdAt > BUNDLE_MAX_AGE_MS) throw new HandshakeError('StaleBundle', 'bundle: too old');
  if (lastSeenBundleVersion !== undefined && b.bundleVersion < lastSeenBundleVersion) {
    throw new HandshakeError('RolledBackBundle', 'bundle: older than one already seen');
  }
  return {
    userId,
    identityKey: b.identityKey,
    signedPrekey: b.signedPrekey,
    oneTimePrekeys: b.oneTimePrekeys,
    bundleVersion: b.bundleVersion,
    createdAt: b.createdAt,
    pq: b.pq,
  };
}

/** Reads the claimed owner of a bundle without verifying it (for routing/diagnostics only). */
export function bundleClaimedUserId(crypto: Crypto, bytes: Uint8Array): UserId {
  return deriveUserId(crypto, parseBundle(bytes).identityKey);
}
