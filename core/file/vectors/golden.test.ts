/**
 * Golden vectors of the file format (file-vectors.json, built once by build-file-vectors.ts): every
 * deterministic derivation and encoding is byte-identical, and the stored sealed file still opens,
 * on both libsodium builds, to the plaintext whose SHA-256 is recorded.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../../crypto/native.ts';
import { createSodiumCrypto } from '../../../crypto/sodium.ts';
import type { Crypto } from '../../crypto.ts';
import { fromHex } from '../../bytes.ts';
import { decodeContent, encodeContent } from '../../content.ts';
import { decodeChunkEnvelope } from '../chunk-envelope.ts';
import { decodeDescriptor, encodeDescriptor } from '../descriptor.ts';
import { chunkTag, deriveFileKeys } from '../format.ts';
import { FileOpener } from '../open.ts';
import { decodeProgress, encodeProgress } from '../progress.ts';
import type { FileVectors } from './build-file-vectors.ts';
import type { MemberVectors } from './build-member-vectors.ts';
import { decodeMemberChunkEnvelope, deriveMemberFileKeys, unwrapMemberChunk, wrapMemberChunk } from '../member-chunk.ts';

const V = JSON.parse(readFileSync(new URL('./file-vectors.json', import.meta.url), 'utf8')) as FileVectors;
const M = JSON.parse(readFileSync(new URL('./member-vectors.json', import.meta.url), 'utf8')) as MemberVectors;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const providers: Record<string, Crypto> = {};
beforeAll(async () => {
  providers.native = createNativeCrypto();
  providers.wasm = await createSodiumCrypto();
});

describe.each(['native', 'wasm'])('file vectors (%s)', (name) => {
  const c = (): Crypto => providers[name]!;

  it('derives the same keys and chunk tags', () => {
    const keys = deriveFileKeys(c(), fromHex(V.fileKey));
    expect(hex(keys.streamKey)).toBe(V.streamKey);
    expect(hex(keys.tagKey)).toBe(V.tagKey);
    expect([0, 1, 2, 1000].map((i) => hex(chunkTag(c(), keys.tagKey, i)))).toEqual(V.tags);
  });

  it('decodes and re-encodes the descriptor, progress and both contents byte for byte', () => {
    const d = decodeDescriptor(fromHex(V.descriptor));
    expect(hex(d.fileKey)).toBe(V.fileKey);
    expect(d.fileName).toBe('report.txt');
    expect(hex(encodeDescriptor(d))).toBe(V.descriptor);
    expect(hex(encodeProgress(decodeProgress(fromHex(V.progress))))).toBe(V.progress);
    expect(hex(encodeContent(decodeContent(fromHex(V.fileContent))))).toBe(V.fileContent);
    expect(hex(encodeContent(decodeContent(fromHex(V.progressContent))))).toBe(V.progressContent);
  });

  it('opens the stored sealed file to the recorded plaintext, each chunk under its recorded tag', () => {
    const d = decodeDescriptor(fromHex(V.descriptor));
    const o = new FileOpener(c(), d);
    const h = c().sha256Stream();
    V.envelopes.forEach((b64, i) => {
      const env = decodeChunkEnvelope(new Uint8Array(Buffer.from(b64, 'base64')));
      expect(hex(env.tag)).toBe(V.tags[i]);
      h.update(o.open(env.sealed));
    });
    expect(o.complete).toBe(true);
    expect(hex(h.digest())).toBe(V.plaintext);
  });

  it('files to a group: the same member keys, tags and wrapped envelopes, which open to the stored chunks', () => {
    const keys = deriveMemberFileKeys(c(), fromHex(V.fileKey), M.member);
    expect(hex(keys.tagKey)).toBe(M.tagKey);
    expect(hex(keys.wrapKey)).toBe(M.wrapKey);
    expect([0, 1, 2, 1000].map((i) => hex(chunkTag(c(), keys.tagKey, i)))).toEqual(M.tags);
    V.envelopes.forEach((b64, i) => {
      const sealed = decodeChunkEnvelope(new Uint8Array(Buffer.from(b64, 'base64'))).sealed;
      const env = wrapMemberChunk(c(), keys, i, sealed);
      expect(hex(c().sha256(env))).toBe(M.envelopeHashes[i]);
      expect(hex(env.subarray(2, 18))).toBe(M.tags[i]);
      expect(hex(unwrapMemberChunk(c(), keys.wrapKey, i, decodeMemberChunkEnvelope(env))!)).toBe(hex(sealed));
    });
  });
});
