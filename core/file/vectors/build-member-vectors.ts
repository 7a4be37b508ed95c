/**
 * Builds core/file/vectors/member-vectors.json: for the file of file-vectors.json and a fixed member
 * id, the member's tag and wrap keys, its chunk tags, and the SHA-256 of each member chunk envelope
 * wrapping that file's stored sealed chunks (the wrap is deterministic, so golden.test.ts rebuilds
 * them byte for byte on both libsodium builds, and opens them again).
 *   npx tsx core/file/vectors/build-member-vectors.ts   (rewrites the JSON; only for a deliberate format change)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createNativeCrypto } from '../../../crypto/native.ts';
import { fromHex } from '../../bytes.ts';
import { decodeChunkEnvelope } from '../chunk-envelope.ts';
import { chunkTag } from '../format.ts';
import { deriveMemberFileKeys, wrapMemberChunk } from '../member-chunk.ts';
import type { FileVectors } from './build-file-vectors.ts';

export interface MemberVectors {
  member: string;
  tagKey: string;
  wrapKey: string;
  tags: string[];
  /** SHA-256 of the member chunk envelope of each stored chunk of file-vectors.json, in order */
  envelopeHashes: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const MEMBER = 'abcdefghijklmnopqrstuvwxyz234567';

export function buildMemberVectors(file: FileVectors): MemberVectors {
  const crypto = createNativeCrypto();
  const keys = deriveMemberFileKeys(crypto, fromHex(file.fileKey), MEMBER);
  return {
    member: MEMBER,
    tagKey: hex(keys.tagKey),
    wrapKey: hex(keys.wrapKey),
    tags: [0, 1, 2, 1000].map((i) => hex(chunkTag(crypto, keys.tagKey, i))),
    envelopeHashes: file.envelopes.map((b64, i) => hex(crypto.sha256(wrapMemberChunk(crypto, keys, i, decodeChunkEnvelope(new Uint8Array(Buffer.from(b64, 'base64'))).sealed)))),
  };
}

if (process.argv[1]?.endsWith('build-member-vectors.ts') === true) {
  const file = JSON.parse(readFileSync(new URL('./file-vectors.json', import.meta.url), 'utf8')) as FileVectors;
  writeFileSync(new URL('./member-vectors.json', import.meta.url), `${JSON.stringify(buildMemberVectors(file), null, 1)}\n`);
}
