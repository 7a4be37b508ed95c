/**
 * Identifiers inside group formats: user ids as their 20 raw bytes (a user id is the lowercase
 * base32 of 20 hash bytes, user-id.ts), group ids as 16 bytes shown as 26 base32 characters. A group
 * id's text is never 32 characters long, so it cannot be mistaken for a user id.
 *
 * Raw member ids sort by their bytes (the canonical order of member lists), which is not the order of
 * their base32 text ('2'..'7' sort before 'a' in ASCII).
 */
import { DecodeError } from '../errors.ts';
import { GROUP_ID_BYTES } from '../limits.ts';
import { USER_ID_BYTES, isUserId, type UserId } from '../user-id.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const VALUES = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));
/** Characters of a group id's text: ceil(128 / 5). */
export const GROUP_ID_TEXT_LENGTH = Math.ceil((GROUP_ID_BYTES * 8) / 5);

function base32(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Inverse of base32 for exactly `bytes` bytes; DecodeError unless the text is the canonical encoding. */
function unbase32(text: string, bytes: number, what: string): Uint8Array {
  if (text.length !== Math.ceil((bytes * 8) / 5)) throw new DecodeError(`${what}: wrong length`);
  const out = new Uint8Array(bytes);
  let bits = 0;
  let value = 0;
  let o = 0;
  for (const c of text) {
    const v = VALUES.get(c);
    if (v === undefined) throw new DecodeError(`${what}: not base32`);
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      if (o < bytes) out[o] = (value >>> (bits - 8)) & 0xff;
      o++;
      bits -= 8;
    }
  }
  if (base32(out) !== text) throw new DecodeError(`${what}: non-canonical base32`);
  return out;
}

/** The 20 raw bytes of a user id. */
export function userIdBytes(id: UserId): Uint8Array {
  return unbase32(id, USER_ID_BYTES, 'user id');
}

/** The user id of 20 raw bytes. */
export function userIdFromBytes(raw: Uint8Array): UserId {
  if (raw.length !== USER_ID_BYTES) throw new DecodeError('user id: wrong length');
  const id = base32(raw);
  if (!isUserId(id)) throw new DecodeError('user id: not canonical');
  return id;
}

/** The text form of a group id (26 characters of [a-z2-7]). */
export function groupIdText(raw: Uint8Array): string {
  if (raw.length !== GROUP_ID_BYTES) throw new DecodeError('group id: wrong length');
  return base32(raw);
}

/** Parses a group id's text; DecodeError for anything else. */
export function parseGroupId(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new DecodeError('group id: not a string');
  return unbase32(text, GROUP_ID_BYTES, 'group id');
}

/** Byte order of raw ids (the canonical order of member lists). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
