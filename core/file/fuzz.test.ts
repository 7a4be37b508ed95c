/**
 * Every decoder of the file format fed arbitrary bytes, and single-byte corruptions and truncations
 * of valid samples (fast-check, the shared seed): each returns or throws a DecodeError, nothing
 * else; whatever a decoder accepts re-encodes to the same bytes (one encoding per value).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../bytes.ts';
import { decodeContent, encodeContent } from '../content.ts';
import { fuzzDecoder } from '../handshake-vectors/test-helpers.ts';
import { decodeChunkEnvelope, encodeChunkEnvelope } from './chunk-envelope.ts';
import { decodeDescriptor, encodeDescriptor } from './descriptor.ts';
import { decodeProgress, encodeProgress } from './progress.ts';
import type { FileVectors } from './vectors/build-file-vectors.ts';

const V = JSON.parse(readFileSync(new URL('./vectors/file-vectors.json', import.meta.url), 'utf8')) as FileVectors;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Decodes, and when that succeeds checks the value re-encodes to exactly the input. */
const canonical =
  <T>(decode: (b: Uint8Array) => T, encode: (v: T) => Uint8Array) =>
  (bytes: Uint8Array): void => {
    const v = decode(bytes);
    expect(hex(encode(v))).toBe(hex(bytes));
  };

describe('file decoders (fuzz)', () => {
  it('descriptor', () => fuzzDecoder(canonical(decodeDescriptor, encodeDescriptor), [fromHex(V.descriptor)]));
  it('progress', () => fuzzDecoder(canonical(decodeProgress, encodeProgress), [fromHex(V.progress)]));
  it('file and file progress contents', () => fuzzDecoder(canonical(decodeContent, encodeContent), [fromHex(V.fileContent), fromHex(V.progressContent)]));
  it('chunk envelope', () => {
    const env = new Uint8Array(Buffer.from(V.envelopes[0]!, 'base64'));
    fuzzDecoder(canonical(decodeChunkEnvelope, encodeChunkEnvelope), [env], 200);
  });
});
