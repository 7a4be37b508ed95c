/**
 * The group message: encrypted once for every member, signed by its sender.
 *
 *   message    = header (9) ‖ nonce (24, random) ‖ ciphertext (bucket + 16) ‖ signature (64)
 *   header     = format u8 (= 1) ‖ key id u32 ‖ iteration u32
 *   ciphertext = XChaCha20-Poly1305(K, nonce, pad(group plaintext), AAD)
 *                K = HKDF(0^32, MK, "ratchetd-v1/group-MK", 32), (CK′, MK) = KDF_CK(CK)  (group-kdf.ts)
 *   AAD        = group id (16) ‖ sender id (20 raw) ‖ header
 *   signature  = Ed25519(sender's signing key, "ratchetd-v1/group-message" ‖ group id ‖ sender id
 *                ‖ header ‖ nonce ‖ ciphertext)
 *
 * Group id and sender are not in the bytes: the receiver knows them from the routing (copy.ts) or the
 * pairwise session, and both are bound by the AAD and the signature. The AEAD key is known to every
 * member, so only the signature tells members apart: a member cannot forge another's message. The
 * nonce is random, never derived, so a sender state restored from a backup that reuses a message key
 * still never reuses a (key, nonce) pair. Padding: padding.ts buckets; a 256-byte bucket gives 369 bytes.
 */
import type { Crypto } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { Reader, Writer, concat, utf8 } from '../bytes.ts';
import { isBodyBucket, pad, unpad } from '../padding.ts';
import { BODY_SIZE_BUCKETS, MAX_CHAIN_COUNTER } from '../limits.ts';
import { groupMessageKey } from './group-kdf.ts';

const MESSAGE_FORMAT = 1;
export const GROUP_HEADER_BYTES = 9;
export const GROUP_NONCE_BYTES = 24;
const TAG_BYTES = 16;
export const GROUP_SIGNATURE_BYTES = 64;
export const GROUP_SIGNATURE_LABEL = utf8.encode('ratchetd-v1/group-message');
/** Bytes a group message adds to its padded plaintext. */
export const GROUP_MESSAGE_OVERHEAD = GROUP_HEADER_BYTES + GROUP_NONCE_BYTES + TAG_BYTES + GROUP_SIGNATURE_BYTES;
export const MIN_GROUP_MESSAGE_BYTES = GROUP_MESSAGE_OVERHEAD + BODY_SIZE_BUCKETS[0];
export const MAX_GROUP_MESSAGE_BYTES = GROUP_MESSAGE_OVERHEAD + BODY_SIZE_BUCKETS[BODY_SIZE_BUCKETS.length - 1]!;

export interface GroupMessageHeader {
  readonly keyId: number;
  readonly iteration: number;
}

export interface ParsedGroupMessage extends GroupMessageHeader {
  readonly header: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly signature: Uint8Array;
}

export interface SealInput extends GroupMessageHeader {
  readonly groupId: Uint8Array;
  /** 20 raw bytes of the sender's user id */
  readonly sender: Uint8Array;
  /** MK of this iteration (secret; the caller zeroes it) */
  readonly messageKey: Uint8Array;
  /** the sender key's Ed25519 secret key (64) */
  readonly signingPrivateKey: Uint8Array;
  /** the encoded group plaintext */
  readonly plaintext: Uint8Array;
}

function encodeHeader(h: GroupMessageHeader): Uint8Array {
  if (!Number.isInteger(h.keyId) || h.keyId < 0 || h.keyId > 0xffff_ffff) throw new RangeError('group message: key id out of range');
  if (!Number.isInteger(h.iteration) || h.iteration < 0 || h.iteration >= MAX_CHAIN_COUNTER) throw new RangeError('group message: iteration out of range');
  return new Writer().u8(MESSAGE_FORMAT).u32(h.keyId).u32(h.iteration).finish();
}

function aad(groupId: Uint8Array, sender: Uint8Array, header: Uint8Array): Uint8Array {
  return concat(groupId, sender, header);
}

function signedBytes(groupId: Uint8Array, sender: Uint8Array, m: Pick<ParsedGroupMessage, 'header' | 'nonce' | 'ciphertext'>): Uint8Array {
  return concat(GROUP_SIGNATURE_LABEL, groupId, sender, m.header, m.nonce, m.ciphertext);
}

/** Encrypts (one AEAD) and signs (one Ed25519) a group message. */
export function sealGroupMessage(crypto: Crypto, input: SealInput): Uint8Array {
  const header = encodeHeader(input);
  const nonce = crypto.randomBytes(GROUP_NONCE_BYTES);
  const key = groupMessageKey(crypto, input.messageKey);
  const padded = pad(input.plaintext);
  let ciphertext: Uint8Array;
  try {
    ciphertext = crypto.aeadEncrypt(key, nonce, padded, aad(input.groupId, input.sender, header));
  } finally {
    crypto.zero(key);
    crypto.zero(padded);
  }
  const signature = crypto.sign(signedBytes(input.groupId, input.sender, { header, nonce, ciphertext }), input.signingPrivateKey);
  return concat(header, nonce, ciphertext, signature);
}

/** Parses a group message; DecodeError on a wrong format, size or bucket. */
export function parseGroupMessage(bytes: Uint8Array): ParsedGroupMessage {
  if (bytes.length < MIN_GROUP_MESSAGE_BYTES || bytes.length > MAX_GROUP_MESSAGE_BYTES) throw new DecodeError('group message: bad length');
  const r = new Reader(bytes, 'group message');
  const header = bytes.slice(0, GROUP_HEADER_BYTES);
  if (r.u8() !== MESSAGE_FORMAT) throw new DecodeError('group message: unsupported format', 'UnsupportedVersion');
  const keyId = r.u32();
  const iteration = r.u32();
  if (iteration >= MAX_CHAIN_COUNTER) throw new DecodeError('group message: iteration out of range');
  const nonce = r.fixed(GROUP_NONCE_BYTES);
  const ciphertext = r.fixed(r.remaining - GROUP_SIGNATURE_BYTES);
  const signature = r.fixed(GROUP_SIGNATURE_BYTES);
  r.end();
  if (!isBodyBucket(ciphertext.length - TAG_BYTES)) throw new DecodeError('group message: ciphertext is not a padded bucket');
  return { keyId, iteration, header, nonce, ciphertext, signature };
}

/** Whether the signature verifies under the sender key's signing key. */
export function verifyGroupMessage(crypto: Crypto, m: ParsedGroupMessage, groupId: Uint8Array, sender: Uint8Array, signingKey: Uint8Array): boolean {
  return crypto.verify(m.signature, signedBytes(groupId, sender, m), signingKey);
}

/** The encoded group plaintext, or null when the ciphertext does not authenticate (or its padding is bad). */
export function openGroupMessage(crypto: Crypto, m: ParsedGroupMessage, groupId: Uint8Array, sender: Uint8Array, messageKey: Uint8Array): Uint8Array | null {
  const key = groupMessageKey(crypto, messageKey);
  const padded = crypto.aeadDecrypt(key, m.nonce, m.ciphertext, aad(groupId, sender, m.header));
  crypto.zero(key);
  if (padded === null) return null;
  try {
    return unpad(padded).slice();
  } catch {
    return null;
  } finally {
    crypto.zero(padded);
  }
}
