/**
 * Member chunk envelopes (files to a group): one size; a chunk wrapped for one member opens only
 * with that member's key at that index; members' tags and bytes never coincide; the relay's
 * tampering is refused; the encoding is strict.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import type { Crypto } from '../crypto.ts';
import { FileSealer } from './seal.ts';
import { MEMBER_CHUNK_ENVELOPE_BYTES, decodeMemberChunkEnvelope, deriveMemberFileKeys, isMemberChunkEnvelope, unwrapMemberChunk, wrapMemberChunk } from './member-chunk.ts';
import { isChunkEnvelope } from './chunk-envelope.ts';
import { FILE_CHUNK_BYTES } from './format.ts';

let crypto: Crypto;
beforeAll(() => {
  crypto = createNativeCrypto();
});
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const BOB = 'b'.repeat(32);
const CAROL = 'c'.repeat(32);

function sealed(): { fileKey: Uint8Array; chunks: Uint8Array[] } {
  const s = new FileSealer(crypto);
  const chunks = s.write(crypto.randomBytes(2 * FILE_CHUNK_BYTES + 1)).map((c) => c.sealed);
  for (const c of s.finish('f', '').rest) chunks.push(c.sealed);
  return { fileKey: s.fileKey, chunks };
}

describe('member chunk envelopes', () => {
  it('one size; opens for its member at its index only; no bytes shared between members', () => {
    const { fileKey, chunks } = sealed();
    const bob = deriveMemberFileKeys(crypto, fileKey, BOB);
    const carol = deriveMemberFileKeys(crypto, fileKey, CAROL);
    const toBob = wrapMemberChunk(crypto, bob, 1, chunks[1]!);
    const toCarol = wrapMemberChunk(crypto, carol, 1, chunks[1]!);
    expect(toBob.length).toBe(MEMBER_CHUNK_ENVELOPE_BYTES);
    expect(isMemberChunkEnvelope(toBob)).toBe(true);
    expect(isChunkEnvelope(toBob)).toBe(false);
    expect(hex(unwrapMemberChunk(crypto, bob.wrapKey, 1, decodeMemberChunkEnvelope(toBob))!)).toBe(hex(chunks[1]!));
    expect(unwrapMemberChunk(crypto, carol.wrapKey, 1, decodeMemberChunkEnvelope(toBob))).toBeNull();
    expect(unwrapMemberChunk(crypto, bob.wrapKey, 0, decodeMemberChunkEnvelope(toBob))).toBeNull();
    // Neither the tag nor any 32-byte window of the wrapped bytes is the same for two members.
    expect(hex(toBob.subarray(2, 18))).not.toBe(hex(toCarol.subarray(2, 18)));
    const carolHex = hex(toCarol);
    for (let at = 18; at + 32 <= toBob.length; at += 4096) expect(carolHex.includes(hex(toBob.subarray(at, at + 32)))).toBe(false);
    // A re-send of the same chunk gives the same bytes (deterministic nonce: no nonce reuse for two plaintexts).
    expect(hex(wrapMemberChunk(crypto, bob, 1, chunks[1]!))).toBe(hex(toBob));
  });

  it('a tampered tag or body is refused; a wrong length or kind does not decode', () => {
    const { fileKey, chunks } = sealed();
    const bob = deriveMemberFileKeys(crypto, fileKey, BOB);
    const env = wrapMemberChunk(crypto, bob, 0, chunks[0]!);
    for (const at of [5, 40, env.length - 1]) {
      const t = env.slice();
      t[at]! ^= 1;
      expect(unwrapMemberChunk(crypto, bob.wrapKey, 0, decodeMemberChunkEnvelope(t))).toBeNull();
    }
    expect(() => decodeMemberChunkEnvelope(env.subarray(1))).toThrow(/length/);
    const kind = env.slice();
    kind[1] = 0x05;
    expect(() => decodeMemberChunkEnvelope(kind)).toThrow(/not a member chunk/);
    expect(() => wrapMemberChunk(crypto, bob, 0, chunks[0]!.subarray(1))).toThrow(RangeError);
  });
});
