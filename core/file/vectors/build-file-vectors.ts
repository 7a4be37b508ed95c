/**
 * Builds core/file/vectors/file-vectors.json: fixed key, id and plaintext; the derived keys and
 * chunk tags; the descriptor, progress and content encodings; and one sealed file (two chunks) with
 * its header. secretstream headers are random, so the sealed chunks are fixed by this file, not
 * rebuilt: golden.test.ts checks that they still open to the same plaintext and that every
 * deterministic encoding is byte-identical.
 *   npx tsx core/file/vectors/build-file-vectors.ts   (rewrites the JSON; only for a deliberate format change)
 */
import { writeFileSync } from 'node:fs';
import { createNativeCrypto } from '../../../crypto/native.ts';
import { encodeContent } from '../../content.ts';
import { encodeChunkEnvelope } from '../chunk-envelope.ts';
import { encodeDescriptor } from '../descriptor.ts';
import { chunkTag, deriveFileKeys, FILE_CHUNK_BYTES } from '../format.ts';
import { encodeProgress } from '../progress.ts';
import { FileSealer } from '../seal.ts';

export interface FileVectors {
  fileKey: string;
  fileId: string;
  plaintext: string;
  streamKey: string;
  tagKey: string;
  tags: string[];
  descriptor: string;
  progress: string;
  fileContent: string;
  progressContent: string;
  /** base64 of each chunk envelope (tag ‖ sealed chunk) */
  envelopes: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export function buildFileVectors(): FileVectors {
  const crypto = createNativeCrypto();
  const fileKey = Uint8Array.from({ length: 32 }, (_, i) => i);
  const fileId = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  const plaintext = Uint8Array.from({ length: FILE_CHUNK_BYTES + 10 }, (_, i) => (i * 7) & 0xff);
  const keys = deriveFileKeys(crypto, fileKey);
  const sealer = new FileSealer(crypto, { fileId, fileKey });
  const chunks = [...sealer.write(plaintext)];
  const { descriptor, rest } = sealer.finish('report.txt', 'text/plain');
  chunks.push(...rest);
  const progress = { fileId, storedChunks: 2, state: 'complete' as const, reason: 'none' as const };
  const meta = { messageId: new Uint8Array(16).fill(1), prevHash: new Uint8Array(32).fill(2), sentAt: 1_700_000_000_000 };
  return {
    fileKey: hex(fileKey),
    fileId: hex(fileId),
    plaintext: hex(crypto.sha256(plaintext)),
    streamKey: hex(keys.streamKey),
    tagKey: hex(keys.tagKey),
    tags: [0, 1, 2, 1000].map((i) => hex(chunkTag(crypto, keys.tagKey, i))),
    descriptor: hex(encodeDescriptor(descriptor)),
    progress: hex(encodeProgress(progress)),
    fileContent: hex(encodeContent({ kind: 'file', descriptor, seq: 5, ...meta })),
    progressContent: hex(encodeContent({ kind: 'fileProgress', progress, seq: 0, ...meta, prevHash: new Uint8Array(32) })),
    envelopes: chunks.map((c) => Buffer.from(encodeChunkEnvelope({ tag: chunkTag(crypto, keys.tagKey, c.index), sealed: c.sealed })).toString('base64')),
  };
}

if (process.argv[1]?.endsWith("build-file-vectors.ts") === true) {
  writeFileSync(new URL('./file-vectors.json', import.meta.url), `${JSON.stringify(buildFileVectors(), null, 1)}\n`);
}
