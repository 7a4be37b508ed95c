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
 *   signature                 64   Ed25519(IK_B, "ratchetd-v1/bundle" ‖ every byte above)
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
import { currentSignedPrekey, withBundleVersion, type PrekeyState } from './prekeys.ts';
import { deriveUserId, type UserId } from './user-id.ts';

const BUNDLE_SIGNATURE_LABEL = utf8.encode('ratchetd-v1/bundle');
export const SIGNATURE_BYTES = 64;
/** A bundle carries at most this many one-time prekeys (twice the target: room for growth, bounded parsing). */
export const MAX_BUNDLE_ONE_TIME_PREKEYS = 2 * ONE_TIME_PREKEYS_TARGET;

export interface BundlePrekey {
  readonly id: number;
  readonly publicKey: X25519PublicKey;
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
}

interface ParsedBundle {
  readonly identityKey: Ed25519PublicKey;
  readonly signedPrekey: BundlePrekey & { readonly createdAt: number };
  readonly oneTimePrekeys: BundlePrekey[];
  readonly bundleVersion: number;
  readonly createdAt: number;
  /** Everything the signature covers (without the label). */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

/** Builds and signs a bundle with every unconsumed one-time prekey; the bundle version goes up by one. */
export function buildBundle(
  crypto: Crypto,
  identity: LocalIdentity,
  prekeys: PrekeyState,
  now: number,
): { bundle: Uint8Array; next: PrekeyState } {
  const spk = currentSignedPrekey(prekeys);
  const bundleVersion = prekeys.bundleVersion + 1;
  const opks = prekeys.oneTimePrekeys.slice(0, MAX_BUNDLE_ONE_TIME_PREKEYS);
  const w = new Writer()
    .u8(PROTOCOL_VERSION)
    .fixed(encodeEd25519PublicKey(identity.keyPair.publicKey))
    .u32(spk.id)
    .fixed(encodeX25519PublicKey(spk.keyPair.publicKey))
    .u64(spk.createdAt)
    .u32(bundleVersion)
    .u64(now)
    .u16(opks.length);
  for (const k of opks) w.u32(k.id).fixed(encodeX25519PublicKey(k.keyPair.publicKey));
  const signed = w.finish();
  const signature = crypto.sign(concat(BUNDLE_SIGNATURE_LABEL, signed), identity.keyPair.privateKey);
  return { bundle: concat(signed, signature), next: withBundleVersion(prekeys, bundleVersion) };
}

/** Parses the format only (no signature or freshness check); DecodeError on anything malformed. */
function parseBundle(bytes: Uint8Array): ParsedBundle {
  const r = new Reader(bytes, 'bundle');
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new DecodeError('bundle: unsupported version', 'UnsupportedVersion');
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
  const signedLength = bytes.length - r.remaining;
  const signature = r.fixed(SIGNATURE_BYTES);
  r.end();
  return {
    identityKey,
    signedPrekey: { id: spkId, publicKey: spk, createdAt: spkCreatedAt },
    oneTimePrekeys,
    bundleVersion,
    createdAt,
    signed: bytes.slice(0, signedLength),
    signature,
  };
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
  };
}

/** Reads the claimed owner of a bundle without verifying it (for routing/diagnostics only). */
export function bundleClaimedUserId(crypto: Crypto, bytes: Uint8Array): UserId {
  return deriveUserId(crypto, parseBundle(bytes).identityKey);
}
