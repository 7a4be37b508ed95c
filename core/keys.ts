/**
 * Public key types and their wire encodings.
 *
 * Encoded keys are fixed-length and disjoint: a type byte, then the raw key.
 *   Enc(Ed25519 public key) = 0x01 ‖ key (32)   → 33 bytes (identity keys)
 *   Enc(X25519 public key)  = 0x05 ‖ key (32)   → 33 bytes (signed and one-time prekeys)
 * Ephemeral keys in the envelope travel raw (32 bytes) because their position fixes their type.
 *
 * A received X25519 key is refused (DecodeError 'InvalidKey') when its length is wrong, its top bit is
 * set (RFC 7748 says to mask it; we refuse it so that one key has exactly one encoding) or it is one of
 * the small-order points (the list libsodium also refuses); `dh` additionally maps libsodium's refusal
 * of an all-zero result to the same error. Local and remote key types are branded so that a public key
 * can never be passed where a private key is expected.
 */
import type { Crypto } from './crypto.ts';
import { DecodeError } from './errors.ts';
import { fromHex, toHex } from './bytes.ts';

export const KEY_TYPE_ED25519 = 0x01;
export const KEY_TYPE_X25519 = 0x05;
export const RAW_KEY_BYTES = 32;
export const ENCODED_KEY_BYTES = 1 + RAW_KEY_BYTES;
/** libsodium Ed25519 secret key: seed (32) ‖ public key (32). */
export const ED25519_PRIVATE_KEY_BYTES = 64;

declare const ed25519Brand: unique symbol;
declare const x25519Brand: unique symbol;
/** A raw 32-byte Ed25519 public key (identity key). */
export type Ed25519PublicKey = Uint8Array & { readonly [ed25519Brand]: true };
/** A raw 32-byte X25519 public key that passed `checkX25519PublicKey`. */
export type X25519PublicKey = Uint8Array & { readonly [x25519Brand]: true };

/**
 * Small-order points of Curve25519 in canonical form (top bit clear): 0, 1, the two points of order 8,
 * p-1, p, p+1. X25519 with any of them gives a result independent of the private key.
 */
const SMALL_ORDER_POINTS: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(fromHex);

/** Public data, compared in variable time (only for known public constants). */
function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Checks a received raw X25519 public key: 32 bytes, top bit clear, not a small-order point. */
export function checkX25519PublicKey(raw: Uint8Array): X25519PublicKey {
  if (raw.length !== RAW_KEY_BYTES) throw new DecodeError('X25519 key: wrong length', 'InvalidKey');
  if ((raw[31]! & 0x80) !== 0) throw new DecodeError('X25519 key: top bit set', 'InvalidKey');
  for (const p of SMALL_ORDER_POINTS) {
    if (bytesEqual(raw, p)) throw new DecodeError('X25519 key: small-order point', 'InvalidKey');
  }
  return raw as X25519PublicKey;
}

/** Checks a raw Ed25519 public key's length (its point is checked where it is converted, `identityDhPublic`). */
export function checkEd25519PublicKey(raw: Uint8Array): Ed25519PublicKey {
  if (raw.length !== RAW_KEY_BYTES) throw new DecodeError('Ed25519 key: wrong length', 'InvalidKey');
  return raw as Ed25519PublicKey;
}

function encodeTyped(type: number, raw: Uint8Array): Uint8Array {
  if (raw.length !== RAW_KEY_BYTES) throw new DecodeError('key: wrong length', 'InvalidKey');
  const out = new Uint8Array(ENCODED_KEY_BYTES);
  out[0] = type;
  out.set(raw, 1);
  return out;
}

function decodeTyped(type: number, bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length !== ENCODED_KEY_BYTES) throw new DecodeError(`${what}: wrong length`, 'InvalidKey');
  if (bytes[0] !== type) throw new DecodeError(`${what}: wrong key type`, 'InvalidKey');
  return bytes.slice(1);
}

/** Enc(IK) = 0x01 ‖ Ed25519 public key. */
export function encodeEd25519PublicKey(raw: Uint8Array): Uint8Array {
  return encodeTyped(KEY_TYPE_ED25519, checkEd25519PublicKey(raw));
}

export function decodeEd25519PublicKey(bytes: Uint8Array): Ed25519PublicKey {
  return checkEd25519PublicKey(decodeTyped(KEY_TYPE_ED25519, bytes, 'Ed25519 key'));
}

/** Enc(PK) = 0x05 ‖ X25519 public key. */
export function encodeX25519PublicKey(raw: Uint8Array): Uint8Array {
  return encodeTyped(KEY_TYPE_X25519, checkX25519PublicKey(raw));
}

export function decodeX25519PublicKey(bytes: Uint8Array): X25519PublicKey {
  return checkX25519PublicKey(decodeTyped(KEY_TYPE_X25519, bytes, 'X25519 key'));
}

/**
 * Recent successful identityDhPublic results per Crypto instance, keyed by the Ed25519 key's bytes
 * (public data). The conversion (a point decompression and subgroup check, about an X25519's cost) is
 * a pure function of those bytes, and a handshake needs each identity key twice: when the bundle or
 * the sealed sender is checked, then in X3DH.
 */
const dhPublicMemo = new WeakMap<Crypto, Map<string, X25519PublicKey>>();
const DH_PUBLIC_MEMO_ENTRIES = 64;

/** The X25519 form of an identity public key (crypto_sign_ed25519_pk_to_curve25519). A fresh copy. */
export function identityDhPublic(crypto: Crypto, identityKey: Uint8Array): X25519PublicKey {
  checkEd25519PublicKey(identityKey);
  let memo = dhPublicMemo.get(crypto);
  if (memo === undefined) dhPublicMemo.set(crypto, (memo = new Map()));
  const id = toHex(identityKey);
  const known = memo.get(id);
  if (known !== undefined) return known.slice() as X25519PublicKey;
  let x: Uint8Array;
  try {
    x = crypto.ed25519PublicToX25519(identityKey);
  } catch {
    throw new DecodeError('identity key: not a valid Ed25519 point', 'InvalidKey');
  }
  const checked = checkX25519PublicKey(x);
  if (memo.size >= DH_PUBLIC_MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
  memo.set(id, checked.slice() as X25519PublicKey);
  return checked;
}

/** The X25519 form of an identity private key (crypto_sign_ed25519_sk_to_curve25519). The caller zeroes it. */
export function identityDhPrivate(crypto: Crypto, identityPrivateKey: Uint8Array): Uint8Array {
  if (identityPrivateKey.length !== ED25519_PRIVATE_KEY_BYTES) {
    throw new DecodeError('identity private key: wrong length', 'InvalidKey');
  }
  return crypto.ed25519PrivateToX25519(identityPrivateKey);
}

/** X25519(priv, pub) after checking pub; libsodium's refusal of a low-order result becomes 'InvalidKey'. */
export function dh(crypto: Crypto, privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkX25519PublicKey(publicKey);
  try {
    return crypto.x25519(privateKey, publicKey);
  } catch {
    throw new DecodeError('X25519: key agreement refused (low-order point)', 'InvalidKey');
  }
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * Makes an object that holds private keys print as `[redacted]` (console.log, util.inspect, JSON) by
 * adding non-enumerable hooks. Returns the same object; structural copies (spread) lose the hooks.
 */
export function redacted<T extends object>(value: T, label = 'redacted'): T {
  const text = `[${label}]`;
  Object.defineProperty(value, INSPECT, { value: () => text, enumerable: false });
  Object.defineProperty(value, 'toJSON', { value: () => text, enumerable: false });
  Object.defineProperty(value, 'toString', { value: () => text, enumerable: false });
  return value;
}
