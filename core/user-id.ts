/**
 * Self-certifying user ids: a hash of the Ed25519 identity public key, so a bundle or a relay login
 * can be checked against the id alone. 20 bytes of SHA-256, lowercase base32 (RFC 4648, no padding):
 * 32 characters of [a-z2-7], safe in MQTT topics and file names.
 */
import type { Crypto } from './crypto.ts';
import { concat, utf8 } from './bytes.ts';
import { DecodeError } from './errors.ts';

declare const userIdBrand: unique symbol;
export type UserId = string & { readonly [userIdBrand]: true };

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const USER_ID_LABEL = utf8.encode('ratchetd-v1/user-id');
export const USER_ID_BYTES = 20;
export const USER_ID_LENGTH = 32;
const USER_ID_PATTERN = /^[a-z2-7]{32}$/;

function base32(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** userId = base32(SHA-256("ratchetd-v1/user-id" ‖ 0x01 ‖ Ed25519 public key)[0..20]). */
export function deriveUserId(crypto: Crypto, identityPublicKey: Uint8Array): UserId {
  if (identityPublicKey.length !== 32) throw new DecodeError('identity key must be 32 bytes', 'InvalidKey');
  const digest = crypto.sha256(concat(USER_ID_LABEL, Uint8Array.of(0x01), identityPublicKey));
  return base32(digest.subarray(0, USER_ID_BYTES)) as UserId;
}

export function isUserId(s: unknown): s is UserId {
  return typeof s === 'string' && USER_ID_PATTERN.test(s);
}

/** Parses untrusted text into a UserId or throws DecodeError. */
export function parseUserId(s: unknown): UserId {
  if (!isUserId(s)) throw new DecodeError('not a ratchetd user id (32 characters of a-z, 2-7)');
  return s;
}
