/**
 * The local identity: an Ed25519 key pair and the self-certifying user id derived
 * from its public key. Its DH form is obtained with `identityDhPrivate` / `identityDhPublic` (keys.ts).
 *
 * Stored record (versioned, exactly 97 bytes):
 *   version u8 (= 1) ‖ Ed25519 public key (32) ‖ libsodium Ed25519 secret key (64 = seed ‖ public key)
 * The decoder checks that the secret key regenerates the public key, and derives the user id again.
 */
import type { Crypto, KeyPair } from './crypto.ts';
import { DecodeError } from './errors.ts';
import { Reader, Writer } from './bytes.ts';
import { deriveUserId, type UserId } from './user-id.ts';
import { ED25519_PRIVATE_KEY_BYTES, RAW_KEY_BYTES, encodeEd25519PublicKey, identityDhPublic, redacted } from './keys.ts';

export interface LocalIdentity {
  readonly userId: UserId;
  /** Ed25519: publicKey 32 bytes, privateKey 64 bytes (libsodium secret key). */
  readonly keyPair: KeyPair;
}

const IDENTITY_RECORD_VERSION = 1;
export const IDENTITY_RECORD_BYTES = 1 + RAW_KEY_BYTES + ED25519_PRIVATE_KEY_BYTES;

/** Wraps a key pair, checking it and deriving the user id. */
export function identityFromKeyPair(crypto: Crypto, keyPair: KeyPair): LocalIdentity {
  const { publicKey, privateKey } = keyPair;
  if (publicKey.length !== RAW_KEY_BYTES || privateKey.length !== ED25519_PRIVATE_KEY_BYTES) {
    throw new DecodeError('identity: wrong key lengths', 'InvalidKey');
  }
  const regenerated = crypto.ed25519KeyPairFromSeed(privateKey.subarray(0, 32));
  const consistent = crypto.equal(regenerated.publicKey, publicKey);
  crypto.zero(regenerated.privateKey);
  if (!consistent) throw new DecodeError('identity: private key does not match public key', 'InvalidKey');
  identityDhPublic(crypto, publicKey); // a usable point for DH
  return redacted({
    userId: deriveUserId(crypto, publicKey),
    keyPair: redacted({ publicKey: publicKey.slice(), privateKey: privateKey.slice() }),
  });
}

/** A fresh identity (crypto.ed25519KeyPair). */
export function createIdentity(crypto: Crypto): LocalIdentity {
  const kp = crypto.ed25519KeyPair();
  const identity = identityFromKeyPair(crypto, kp);
  crypto.zero(kp.privateKey);
  return identity;
}

/** Enc(IK) of this identity (0x01 ‖ Ed25519 public key). */
export function encodedIdentityKey(identity: LocalIdentity): Uint8Array {
  return encodeEd25519PublicKey(identity.keyPair.publicKey);
}

export function encodeIdentity(identity: LocalIdentity): Uint8Array {
  return new Writer()
    .u8(IDENTITY_RECORD_VERSION)
    .fixed(identity.keyPair.publicKey)
    .fixed(identity.keyPair.privateKey)
    .finish();
}

/** Parses a stored identity; DecodeError on anything malformed or inconsistent. */
export function decodeIdentity(crypto: Crypto, bytes: Uint8Array): LocalIdentity {
  const r = new Reader(bytes, 'identity');
  const version = r.u8();
  if (version !== IDENTITY_RECORD_VERSION) throw new DecodeError('identity: unsupported version', 'UnsupportedVersion');
  const publicKey = r.fixed(RAW_KEY_BYTES);
  const privateKey = r.fixed(ED25519_PRIVATE_KEY_BYTES);
  r.end();
  try {
    return identityFromKeyPair(crypto, { publicKey, privateKey });
  } finally {
    crypto.zero(privateKey);
  }
}
