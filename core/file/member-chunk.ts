/**
 * Files to a group: the file is sealed once (one secretstream, one set of sealed chunks, one spool)
 * and each sealed chunk travels to each member wrapped under a key of that member alone, in the
 * member chunk envelope:
 *
 *   version u8 ‖ 0x06 ‖ routing tag (16) ‖ XChaCha20-Poly1305(wrap key, nonce(index), sealed chunk,
 *   AAD = version ‖ 0x06 ‖ tag)
 *
 *   member tag key  = HKDF(0^32, file key, "ratchetd-v1/file-member-tag" ‖ member id, 32)
 *   member wrap key = HKDF(0^32, file key, "ratchetd-v1/file-member-wrap" ‖ member id, 32)
 *   routing tag i   = chunkTag(member tag key, i)                 (format.ts, as pairwise chunks)
 *   nonce(i)        = 20 zero bytes ‖ u32 i
 *
 * Why a wrap and not the same sealed bytes in every inbox: the relay would link the members'
 * inboxes by identical ciphertexts (and identical tags), which group copies never allow
 * (core/group/DESIGN.md, "no two copies share bytes"). The wrap costs one AEAD per chunk and
 * member (the expensive part — hashing, sealing, the spool — is done once) and 16 bytes per chunk.
 * The nonce is deterministic: one (file, member) key encrypts chunk i only ever as the same sealed
 * chunk (a re-send gives the same bytes), so no nonce is reused for two plaintexts. Integrity still
 * rests on the inner secretstream (order, truncation, splicing) and the descriptor's SHA-256; the
 * wrap's tag only refuses the relay's forgeries early.
 *
 * Every envelope of this kind has one size (MEMBER_CHUNK_ENVELOPE_BYTES); the relay can tell a
 * group file chunk from a pairwise one by kind and size (as it tells group copies from pairwise
 * messages), but not which file, sender or member set it belongs to.
 */
import type { Crypto } from '../crypto.ts';
import { Reader, Writer, concat, utf8 } from '../bytes.ts';
import { DecodeError } from '../errors.ts';
import { PROTOCOL_VERSION, ROUTING_TAG_BYTES } from '../limits.ts';
import { FILE_KEY_BYTES, SEALED_CHUNK_BYTES, chunkTag } from './format.ts';

export const ENVELOPE_KIND_MEMBER_FILE_CHUNK = 0x06;
const WRAP_TAG_BYTES = 16;
export const WRAPPED_CHUNK_BYTES = SEALED_CHUNK_BYTES + WRAP_TAG_BYTES;
export const MEMBER_CHUNK_ENVELOPE_BYTES = 2 + ROUTING_TAG_BYTES + WRAPPED_CHUNK_BYTES;

const ZERO_SALT = new Uint8Array(32);
const TAG_INFO = utf8.encode('ratchetd-v1/file-member-tag');
const WRAP_INFO = utf8.encode('ratchetd-v1/file-member-wrap');

export interface MemberFileKeys {
  readonly tagKey: Uint8Array;
  readonly wrapKey: Uint8Array;
}

/** The keys of one member for one file (`member`: its user id). */
export function deriveMemberFileKeys(crypto: Crypto, fileKey: Uint8Array, member: string): MemberFileKeys {
  if (fileKey.length !== FILE_KEY_BYTES) throw new RangeError('deriveMemberFileKeys: the file key must be 32 bytes');
  const id = utf8.encode(member);
  return {
    tagKey: crypto.hkdf(ZERO_SALT, fileKey, concat(TAG_INFO, id), 32),
    wrapKey: crypto.hkdf(ZERO_SALT, fileKey, concat(WRAP_INFO, id), 32),
  };
}

function nonceFor(index: number): Uint8Array {
  const n = new Uint8Array(24);
  new DataView(n.buffer).setUint32(20, index);
  return n;
}

function aad(tag: Uint8Array): Uint8Array {
  const a = new Uint8Array(2 + ROUTING_TAG_BYTES);
  a[0] = PROTOCOL_VERSION;
  a[1] = ENVELOPE_KIND_MEMBER_FILE_CHUNK;
  a.set(tag, 2);
  return a;
}

/** Whether the bytes claim to be a member chunk envelope (the kind byte); decode checks the rest. */
export function isMemberChunkEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === PROTOCOL_VERSION && bytes[1] === ENVELOPE_KIND_MEMBER_FILE_CHUNK;
}

/** The envelope carrying sealed chunk `index` to the member whose keys these are. */
export function wrapMemberChunk(crypto: Crypto, keys: MemberFileKeys, index: number, sealed: Uint8Array): Uint8Array {
  if (sealed.length !== SEALED_CHUNK_BYTES) throw new RangeError('wrapMemberChunk: a sealed chunk has one size');
  const tag = chunkTag(crypto, keys.tagKey, index);
  const wrapped = crypto.aeadEncrypt(keys.wrapKey, nonceFor(index), sealed, aad(tag));
  return new Writer().u8(PROTOCOL_VERSION).u8(ENVELOPE_KIND_MEMBER_FILE_CHUNK).fixed(tag).fixed(wrapped).finish();
}

export interface MemberChunkEnvelope {
  readonly tag: Uint8Array;
  /** Decoded: a view into the envelope's bytes. */
  readonly wrapped: Uint8Array;
}

export function decodeMemberChunkEnvelope(bytes: Uint8Array): MemberChunkEnvelope {
  if (bytes.length !== MEMBER_CHUNK_ENVELOPE_BYTES) throw new DecodeError('member chunk envelope: bad length');
  const r = new Reader(bytes, 'member chunk envelope');
  if (r.u8() !== PROTOCOL_VERSION) throw new DecodeError('member chunk envelope: unsupported version', 'UnsupportedVersion');
  if (r.u8() !== ENVELOPE_KIND_MEMBER_FILE_CHUNK) throw new DecodeError('member chunk envelope: not a member chunk');
  const tag = r.fixed(ROUTING_TAG_BYTES);
  const wrapped = r.fixedView(WRAPPED_CHUNK_BYTES);
  r.end();
  return { tag, wrapped };
}

/** The sealed chunk inside, or null when the wrap does not authenticate (forged, or another index or member). */
export function unwrapMemberChunk(crypto: Crypto, wrapKey: Uint8Array, index: number, env: MemberChunkEnvelope): Uint8Array | null {
  return crypto.aeadDecrypt(wrapKey, nonceFor(index), env.wrapped, aad(env.tag));
}
