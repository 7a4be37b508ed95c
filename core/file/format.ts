/**
 * Sizes and key derivations of file transfers.
 *
 * A file travels as N chunk envelopes of one size. Each carries exactly FILE_CHUNK_BYTES of
 * plaintext (the file's bytes, then zeros) sealed with crypto_secretstream_xchacha20poly1305 under a
 * key derived from the file's own random key; N is the number of chunks the data needs rounded up
 * to a bucket (chunkCountBucket), so the relay learns the size only to within ~25 %.
 *
 *   stream key  = HKDF(0^32, file key, "ratchetd-v1/file-stream", 32)
 *   tag key     = HKDF(0^32, file key, "ratchetd-v1/file-tag", 32)
 *   chunk tag i = HMAC(tag key, "ratchetd-v1/file-chunk-tag" ‖ u32 i)[0..16]   (the routing tag)
 *   chunk ad i  = "ratchetd-v1/file-chunk" ‖ file id (16) ‖ u32 i
 *   stream tag  = FINAL on chunk N-1, MESSAGE on every other
 *
 * Every chunk has its own pseudorandom routing tag: the relay can link chunks neither to each other
 * nor to their sender. The stream itself authenticates the order (a chunk opens only as the next
 * one), the ad binds the chunk to its file and index, and the FINAL tag at exactly N-1 makes
 * truncation and extension visible; the SHA-256 of the plaintext in the descriptor is checked last.
 */
import type { Crypto } from '../crypto.ts';
import { SECRETSTREAM_ABYTES } from '../crypto.ts';
import { Writer, concat, utf8 } from '../bytes.ts';
import { ROUTING_TAG_BYTES } from '../limits.ts';

/** Plaintext bytes per chunk: 64 KiB keeps the sender's window of chunks small in memory and on the broker. */
export const FILE_CHUNK_BYTES = 65536;
/** Sealed bytes per chunk. */
export const SEALED_CHUNK_BYTES = FILE_CHUNK_BYTES + SECRETSTREAM_ABYTES;
/** Largest file: 2^24 chunks of 64 KiB (1 TiB), so chunk counts stay far inside a u32. */
export const MAX_FILE_CHUNKS = 2 ** 24;
export const MAX_FILE_BYTES = MAX_FILE_CHUNKS * FILE_CHUNK_BYTES;
export const FILE_ID_BYTES = 16;
export const FILE_KEY_BYTES = 32;
export const MAX_FILE_NAME_BYTES = 255;

const ZERO_SALT = new Uint8Array(32);
const STREAM_INFO = utf8.encode('ratchetd-v1/file-stream');
const TAG_INFO = utf8.encode('ratchetd-v1/file-tag');
const TAG_LABEL = utf8.encode('ratchetd-v1/file-chunk-tag');
const AD_LABEL = utf8.encode('ratchetd-v1/file-chunk');

/** Chunks the data of `size` bytes fills (at least one: an empty file still sends one chunk). */
export function dataChunks(size: number): number {
  return Math.max(1, Math.ceil(size / FILE_CHUNK_BYTES));
}

/**
 * The smallest count ≥ n with at most three significant bits (1…8, 10, 12, 14, 16, 20, 24, 28, 32,
 * 40 …): at most 25 % more chunks than the data needs, and only ~3 buckets per doubling of size.
 */
export function chunkCountBucket(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('chunkCountBucket: n must be a positive integer');
  if (n <= 8) return n;
  const step = 2 ** (Math.floor(Math.log2(n)) - 2);
  return Math.ceil(n / step) * step;
}

/** The number of chunks a file of `size` bytes is sent as. */
export function chunkCountFor(size: number): number {
  return chunkCountBucket(dataChunks(size));
}

/** Bytes of file data in chunk i (the rest of its plaintext is zero padding). */
export function chunkDataLength(size: number, index: number): number {
  return Math.max(0, Math.min(FILE_CHUNK_BYTES, size - index * FILE_CHUNK_BYTES));
}

export interface FileKeys {
  readonly streamKey: Uint8Array;
  readonly tagKey: Uint8Array;
}

export function deriveFileKeys(crypto: Crypto, fileKey: Uint8Array): FileKeys {
  if (fileKey.length !== FILE_KEY_BYTES) throw new RangeError('deriveFileKeys: the file key must be 32 bytes');
  return {
    streamKey: crypto.hkdf(ZERO_SALT, fileKey, STREAM_INFO, 32),
    tagKey: crypto.hkdf(ZERO_SALT, fileKey, TAG_INFO, 32),
  };
}

/** The routing tag of chunk `index`. */
export function chunkTag(crypto: Crypto, tagKey: Uint8Array, index: number): Uint8Array {
  return crypto.hmac(tagKey, concat(TAG_LABEL, new Writer().u32(index).finish())).slice(0, ROUTING_TAG_BYTES);
}

/** The associated data chunk `index` of file `fileId` is sealed under. */
export function chunkAd(fileId: Uint8Array, index: number): Uint8Array {
  return concat(AD_LABEL, fileId, new Writer().u32(index).finish());
}
