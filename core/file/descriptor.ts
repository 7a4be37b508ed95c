/**
 * The file descriptor: what the pairwise message announcing a file carries (inside the ratchet, so
 * only the recipient reads it), and everything needed to receive and check the file.
 *
 *   version u8 (= 1) ‖ file id (16) ‖ file key (32) ‖ stream header (24) ‖ size u64 ‖ sha256 (32)
 *   ‖ chunk count u32 ‖ chunk bytes u32 ‖ file name (u16 length ‖ UTF-8, ≤ 255 bytes)
 *   ‖ content type (u16 length ‖ UTF-8, ≤ 255 bytes)
 *
 * The decoder accepts only canonical encodings: chunk bytes = FILE_CHUNK_BYTES, chunk count =
 * chunkCountFor(size), size ≤ MAX_FILE_BYTES, canonical UTF-8, nothing after the last field.
 */
import { Reader, Writer, utf8 } from '../bytes.ts';
import { SECRETSTREAM_HEADER_BYTES } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { FILE_CHUNK_BYTES, FILE_ID_BYTES, FILE_KEY_BYTES, MAX_FILE_BYTES, MAX_FILE_NAME_BYTES, chunkCountFor } from './format.ts';

const DESCRIPTOR_VERSION = 1;
export const MAX_FILE_CONTENT_TYPE_BYTES = 255;

export interface FileDescriptor {
  readonly fileId: Uint8Array;
  readonly fileKey: Uint8Array;
  /** The secretstream header (24 bytes). */
  readonly header: Uint8Array;
  readonly size: number;
  /** SHA-256 of the plaintext. */
  readonly sha256: Uint8Array;
  readonly chunkCount: number;
  readonly fileName: string;
  readonly contentType: string;
}

/** Largest encoding: the fixed fields and the two longest strings. */
export const MAX_DESCRIPTOR_BYTES = 1 + FILE_ID_BYTES + FILE_KEY_BYTES + SECRETSTREAM_HEADER_BYTES + 8 + 32 + 4 + 4 + 2 + MAX_FILE_NAME_BYTES + 2 + MAX_FILE_CONTENT_TYPE_BYTES;

function checkString(s: string, max: number, what: string): void {
  const b = utf8.encode(s);
  if (b.length > max) throw new DecodeError(`file descriptor: ${what} too long`);
  if (utf8.decode(b) !== s) throw new DecodeError(`file descriptor: ${what} is not valid UTF-8`);
}

/** Throws DecodeError for a descriptor that cannot be encoded canonically. */
export function checkDescriptor(d: FileDescriptor): void {
  if (d.fileId.length !== FILE_ID_BYTES || d.fileKey.length !== FILE_KEY_BYTES || d.header.length !== SECRETSTREAM_HEADER_BYTES || d.sha256.length !== 32) {
    throw new DecodeError('file descriptor: bad field length');
  }
  if (!Number.isSafeInteger(d.size) || d.size < 0 || d.size > MAX_FILE_BYTES) throw new DecodeError('file descriptor: bad size');
  if (d.chunkCount !== chunkCountFor(d.size)) throw new DecodeError('file descriptor: chunk count does not match the size');
  checkString(d.fileName, MAX_FILE_NAME_BYTES, 'file name');
  checkString(d.contentType, MAX_FILE_CONTENT_TYPE_BYTES, 'content type');
}

export function encodeDescriptor(d: FileDescriptor): Uint8Array {
  checkDescriptor(d);
  return new Writer()
    .u8(DESCRIPTOR_VERSION)
    .fixed(d.fileId)
    .fixed(d.fileKey)
    .fixed(d.header)
    .u64(d.size)
    .fixed(d.sha256)
    .u32(d.chunkCount)
    .u32(FILE_CHUNK_BYTES)
    .string16(d.fileName)
    .string16(d.contentType)
    .finish();
}

export function decodeDescriptor(bytes: Uint8Array): FileDescriptor {
  const r = new Reader(bytes, 'file descriptor');
  if (r.u8() !== DESCRIPTOR_VERSION) throw new DecodeError('file descriptor: unsupported version', 'UnsupportedVersion');
  const fileId = r.fixed(FILE_ID_BYTES);
  const fileKey = r.fixed(FILE_KEY_BYTES);
  const header = r.fixed(SECRETSTREAM_HEADER_BYTES);
  const size = r.u64();
  const sha256 = r.fixed(32);
  const chunkCount = r.u32();
  if (r.u32() !== FILE_CHUNK_BYTES) throw new DecodeError('file descriptor: unsupported chunk size');
  const rawName = r.bytes16(MAX_FILE_NAME_BYTES);
  const rawType = r.bytes16(MAX_FILE_CONTENT_TYPE_BYTES);
  r.end();
  const fileName = utf8.decode(rawName);
  const contentType = utf8.decode(rawType);
  if (utf8.encode(fileName).length !== rawName.length || utf8.encode(contentType).length !== rawType.length) {
    throw new DecodeError('file descriptor: non-canonical UTF-8');
  }
  const d = { fileId, fileKey, header, size, sha256, chunkCount, fileName, contentType };
  checkDescriptor(d);
  return d;
}
