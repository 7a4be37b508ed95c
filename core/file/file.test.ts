/**
 * The file transfer core: sizes at the chunk boundaries round-trip byte for byte in chunks of one
 * sealed size; reordered, duplicated, tampered, spliced and truncated chunk streams are refused;
 * the descriptor, progress and chunk envelope encodings are canonical.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import { SECRETSTREAM_TAG_FINAL, SECRETSTREAM_TAG_MESSAGE, type Crypto } from '../crypto.ts';
import { decodeContent, encodeContent, sealContent, ZERO_HASH } from '../content.ts';
import {
  FILE_CHUNK_BYTES,
  FILE_CHUNK_ENVELOPE_BYTES,
  FileError,
  FileOpener,
  FileSealer,
  SEALED_CHUNK_BYTES,
  chunkAd,
  chunkCountBucket,
  chunkCountFor,
  chunkTag,
  decodeChunkEnvelope,
  decodeDescriptor,
  decodeProgress,
  deriveFileKeys,
  encodeChunkEnvelope,
  encodeDescriptor,
  encodeProgress,
  type FileDescriptor,
  type SealedChunk,
} from './index.ts';

let crypto: Crypto;
beforeAll(() => {
  crypto = createNativeCrypto();
});

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Seals `data` written in pieces of `piece` bytes; returns the descriptor and every chunk. */
function seal(data: Uint8Array, piece = 10_000): { d: FileDescriptor; chunks: SealedChunk[] } {
  const s = new FileSealer(crypto);
  const chunks: SealedChunk[] = [];
  for (let at = 0; at < data.length; at += piece) chunks.push(...s.write(data.subarray(at, at + piece)));
  const { descriptor, rest } = s.finish('f.bin', 'application/octet-stream');
  chunks.push(...rest);
  return { d: descriptor, chunks };
}

function openAll(d: FileDescriptor, chunks: readonly SealedChunk[]): Uint8Array {
  const o = new FileOpener(crypto, d);
  const parts = chunks.map((c) => o.open(c.sealed).slice());
  expect(o.complete).toBe(true);
  return Buffer.concat(parts);
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof FileError ? e.code : `not a FileError: ${String(e)}`;
  }
  return undefined;
}

describe('chunk counts', () => {
  it('rounds up to three significant bits: at most 25 % padding chunks', () => {
    expect([1, 2, 7, 8, 9, 10, 11, 17, 33, 1000].map(chunkCountBucket)).toEqual([1, 2, 7, 8, 10, 10, 12, 20, 40, 1024]);
    for (let n = 1; n < 5000; n++) {
      const b = chunkCountBucket(n);
      expect(b).toBeGreaterThanOrEqual(n);
      expect(b).toBeLessThanOrEqual(Math.ceil(n * 1.25));
    }
    expect(chunkCountFor(0)).toBe(1);
    expect(chunkCountFor(FILE_CHUNK_BYTES)).toBe(1);
    expect(chunkCountFor(FILE_CHUNK_BYTES + 1)).toBe(2);
  });
});

describe('sealing and opening', () => {
  it.each([
    ['empty', 0],
    ['1 byte', 1],
    ['exactly one chunk', FILE_CHUNK_BYTES],
    ['one chunk + 1 byte', FILE_CHUNK_BYTES + 1],
    ['9 chunks and a bit (padded to 10)', 9 * FILE_CHUNK_BYTES + 3],
  ])('%s round-trips byte for byte in equal-size sealed chunks', (_name, size) => {
    const data = crypto.randomBytes(size);
    for (const piece of [1 + (size >> 3), FILE_CHUNK_BYTES, 3 * FILE_CHUNK_BYTES]) {
      const { d, chunks } = seal(data, piece);
      expect(d.size).toBe(size);
      expect(hex(d.sha256)).toBe(hex(crypto.sha256(data)));
      expect(chunks.length).toBe(chunkCountFor(size));
      expect(chunks.map((c) => c.index)).toEqual([...chunks.keys()]);
      for (const c of chunks) expect(c.sealed.length).toBe(SEALED_CHUNK_BYTES);
      expect(hex(openAll(d, chunks))).toBe(hex(data));
    }
  });

  it('a 3 MiB random file written in odd pieces round-trips', () => {
    const data = crypto.randomBytes(3 * 1024 * 1024 + 12345);
    const { d, chunks } = seal(data, 77_777);
    expect(Buffer.compare(openAll(d, chunks), data)).toBe(0);
  });

  it('refuses a reordered, duplicated or tampered chunk and still takes the authentic one after', () => {
    const { d, chunks } = seal(crypto.randomBytes(3 * FILE_CHUNK_BYTES));
    const o = new FileOpener(crypto, d);
    expect(code(() => o.open(chunks[1]!.sealed))).toBe('BadChunk');
    o.open(chunks[0]!.sealed);
    expect(code(() => o.open(chunks[0]!.sealed))).toBe('BadChunk'); // duplicate
    const tampered = chunks[1]!.sealed.slice();
    tampered[100]! ^= 0x40;
    expect(code(() => o.open(tampered))).toBe('BadChunk');
    expect(code(() => o.open(chunks[1]!.sealed.subarray(1)))).toBe('BadChunk');
    expect(o.next).toBe(1);
    o.open(chunks[1]!.sealed);
    o.open(chunks[2]!.sealed);
    expect(o.complete).toBe(true);
    expect(code(() => o.open(chunks[2]!.sealed))).toBe('FileComplete');
  });

  it('refuses chunks spliced from another file, even under the same key with another file id', () => {
    const a = seal(crypto.randomBytes(2 * FILE_CHUNK_BYTES));
    const b = seal(crypto.randomBytes(2 * FILE_CHUNK_BYTES));
    expect(code(() => new FileOpener(crypto, a.d).open(b.chunks[0]!.sealed))).toBe('BadChunk');
    const sameKey = new FileSealer(crypto, { fileId: crypto.randomBytes(16), fileKey: a.d.fileKey });
    const c0 = sameKey.write(new Uint8Array(FILE_CHUNK_BYTES + 1))[0]!;
    const forged: FileDescriptor = { ...a.d, header: sameKey.header };
    expect(code(() => new FileOpener(crypto, forged).open(c0.sealed))).toBe('BadChunk');
  });

  it('refuses a stream that ends before or after the descriptor says (truncation, extension)', () => {
    const two = seal(crypto.randomBytes(FILE_CHUNK_BYTES + 5));
    // A descriptor claiming three chunks for a two-chunk stream: chunk 1 is FINAL too early.
    const longer: FileDescriptor = { ...two.d, size: 2 * FILE_CHUNK_BYTES + 5, chunkCount: 3 };
    const o = new FileOpener(crypto, longer);
    o.open(two.chunks[0]!.sealed);
    expect(code(() => o.open(two.chunks[1]!.sealed))).toBe('TruncatedFile');
    expect(o.complete).toBe(false);
    // A descriptor claiming one chunk: chunk 0 is not FINAL.
    const shorter: FileDescriptor = { ...two.d, size: 5, chunkCount: 1 };
    expect(code(() => new FileOpener(crypto, shorter).open(two.chunks[0]!.sealed))).toBe('TruncatedFile');
    // Every chunk but the last: never complete.
    const partial = new FileOpener(crypto, two.d);
    partial.open(two.chunks[0]!.sealed);
    expect(partial.complete).toBe(false);
  });

  it('refuses a wrong SHA-256 at the last chunk and non-zero padding', () => {
    const { d, chunks } = seal(crypto.randomBytes(100));
    const wrong = { ...d, sha256: crypto.sha256(Uint8Array.of(1)) };
    expect(code(() => new FileOpener(crypto, wrong).open(chunks[0]!.sealed))).toBe('HashMismatch');
    // A sender that pads with non-zero bytes (FileSealer never does).
    const fileKey = crypto.randomBytes(32);
    const fileId = crypto.randomBytes(16);
    const push = crypto.secretstreamPush(deriveFileKeys(crypto, fileKey).streamKey);
    const plain = new Uint8Array(FILE_CHUNK_BYTES);
    plain[0] = 7;
    plain[FILE_CHUNK_BYTES - 1] = 1;
    const sealed = push.push(plain, chunkAd(fileId, 0), SECRETSTREAM_TAG_FINAL);
    const bad: FileDescriptor = { fileId, fileKey, header: push.header, size: 1, sha256: crypto.sha256(Uint8Array.of(7)), chunkCount: 1, fileName: 'x', contentType: '' };
    expect(code(() => new FileOpener(crypto, bad).open(sealed))).toBe('BadPadding');
    expect(SECRETSTREAM_TAG_MESSAGE).toBe(0);
  });
});

describe('encodings', () => {
  const descriptor = (): FileDescriptor => seal(crypto.randomBytes(70_000)).d;

  it('descriptor round-trips; bad counts, sizes and strings are refused', () => {
    const d = descriptor();
    const bytes = encodeDescriptor(d);
    expect(hex(encodeDescriptor(decodeDescriptor(bytes)))).toBe(hex(bytes));
    expect(() => encodeDescriptor({ ...d, chunkCount: 3 })).toThrow(/chunk count/);
    expect(() => encodeDescriptor({ ...d, size: -1 })).toThrow(/size/);
    expect(() => encodeDescriptor({ ...d, fileName: 'x'.repeat(256) })).toThrow(/too long/);
    const tail = new Uint8Array(bytes.length + 1);
    tail.set(bytes);
    expect(() => decodeDescriptor(tail)).toThrow(/trailing/);
  });

  it('progress round-trips; a refusal needs a reason and only a refusal has one', () => {
    const p = { fileId: crypto.randomBytes(16), storedChunks: 12, state: 'receiving' as const, reason: 'none' as const };
    expect(decodeProgress(encodeProgress(p))).toEqual(p);
    expect(() => encodeProgress({ ...p, state: 'refused' })).toThrow();
    expect(() => encodeProgress({ ...p, reason: 'quota' })).toThrow();
    expect(decodeProgress(encodeProgress({ ...p, state: 'refused', reason: 'quota' })).reason).toBe('quota');
  });

  it('file and file progress contents: the file in the sequence, progress outside it', () => {
    const d = descriptor();
    const file = sealContent(crypto, { kind: 'file', descriptor: d }, 3, crypto.randomBytes(32), 1000);
    const decoded = decodeContent(encodeContent(file));
    expect(decoded.kind).toBe('file');
    expect(hex(encodeContent(decoded))).toBe(hex(encodeContent(file)));
    expect(() => decodeContent(encodeContent({ ...file, seq: 0, prevHash: ZERO_HASH }))).toThrow(/sequence/);
    const progress = sealContent(crypto, { kind: 'fileProgress', progress: { fileId: d.fileId, storedChunks: 1, state: 'complete', reason: 'none' } }, 9, crypto.randomBytes(32), 1000);
    expect(progress.seq).toBe(0);
    expect(decodeContent(encodeContent(progress))).toEqual(progress);
  });

  it('chunk envelopes have one size and a tag per chunk that is neither reused nor shared between files', () => {
    const { d, chunks } = seal(crypto.randomBytes(3 * FILE_CHUNK_BYTES));
    const keys = deriveFileKeys(crypto, d.fileKey);
    const other = deriveFileKeys(crypto, crypto.randomBytes(32));
    const tags = new Set<string>();
    for (let i = 0; i < 100; i++) {
      tags.add(hex(chunkTag(crypto, keys.tagKey, i)));
      tags.add(hex(chunkTag(crypto, other.tagKey, i)));
    }
    expect(tags.size).toBe(200);
    const env = encodeChunkEnvelope({ tag: chunkTag(crypto, keys.tagKey, 0), sealed: chunks[0]!.sealed });
    expect(env.length).toBe(FILE_CHUNK_ENVELOPE_BYTES);
    const back = decodeChunkEnvelope(env);
    expect(hex(back.sealed)).toBe(hex(chunks[0]!.sealed));
    expect(() => decodeChunkEnvelope(env.subarray(0, env.length - 1))).toThrow(/length/);
    expect(() => encodeChunkEnvelope({ tag: new Uint8Array(15), sealed: chunks[0]!.sealed })).toThrow();
  });
});
