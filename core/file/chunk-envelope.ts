/**
 * The file chunk envelope, as the relay carries it:
 *
 *   version u8 ‖ 0x05 ‖ routing tag (16) ‖ sealed chunk (FILE_CHUNK_BYTES + 17)
 *
 * Always exactly FILE_CHUNK_ENVELOPE_BYTES long, whatever the file and wherever the chunk lies in
 * it. The routing tag is the chunk's own (format.ts chunkTag): the recipient knows the tag of the
 * next chunk of each file it receives; nobody else can tell chunks of one file or one sender apart.
 */
import { Reader, Writer } from '../bytes.ts';
import { DecodeError } from '../errors.ts';
import { PROTOCOL_VERSION, ROUTING_TAG_BYTES } from '../limits.ts';
import { SEALED_CHUNK_BYTES } from './format.ts';

export const ENVELOPE_KIND_FILE_CHUNK = 0x05;
export const FILE_CHUNK_ENVELOPE_BYTES = 2 + ROUTING_TAG_BYTES + SEALED_CHUNK_BYTES;

export interface ChunkEnvelope {
  readonly tag: Uint8Array;
  /** Decoded: a view into the envelope's bytes (64 KiB each: not copied again). */
  readonly sealed: Uint8Array;
}

/** Whether the bytes claim to be a chunk envelope (the kind byte); decodeChunkEnvelope checks the rest. */
export function isChunkEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === PROTOCOL_VERSION && bytes[1] === ENVELOPE_KIND_FILE_CHUNK;
}

export function encodeChunkEnvelope(env: ChunkEnvelope): Uint8Array {
  if (env.tag.length !== ROUTING_TAG_BYTES || env.sealed.length !== SEALED_CHUNK_BYTES) throw new DecodeError('chunk envelope: bad field length');
  return new Writer().u8(PROTOCOL_VERSION).u8(ENVELOPE_KIND_FILE_CHUNK).fixed(env.tag).fixed(env.sealed).finish();
}

export function decodeChunkEnvelope(bytes: Uint8Array): ChunkEnvelope {
  if (bytes.length !== FILE_CHUNK_ENVELOPE_BYTES) throw new DecodeError('chunk envelope: bad length');
  const r = new Reader(bytes, 'chunk envelope');
  if (r.u8() !== PROTOCOL_VERSION) throw new DecodeError('chunk envelope: unsupported version', 'UnsupportedVersion');
  if (r.u8() !== ENVELOPE_KIND_FILE_CHUNK) throw new DecodeError('chunk envelope: not a chunk');
  const tag = r.fixed(ROUTING_TAG_BYTES);
  const sealed = r.fixedView(SEALED_CHUNK_BYTES);
  r.end();
  return { tag, sealed };
}
