/**
 * Golden vectors of groups (frozen in group-vectors.json): the KDFs, the membership versions, the
 * group plaintext, the group message, a copy envelope, the distribution and every pairwise group
 * content, with every random byte scripted. Both libsodium builds must give the same bytes, and the
 * layouts documented in the sources are re-derived here from the raw primitives.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../../crypto/native.ts';
import { createSodiumCrypto } from '../../../crypto/sodium.ts';
import type { Crypto } from '../../crypto.ts';
import { concat, fromHex, toHex } from '../../bytes.ts';
import { decodeGroupEnvelope } from '../../envelope.ts';
import { decodeGroupContent, encodeGroupContent } from '../content.ts';
import { wrapCopy, wrapCopyByEncoder } from '../copy.ts';
import { decodeDistribution, encodeDistribution } from '../distribution.ts';
import { userIdBytes } from '../ids.ts';
import { verifyMembership } from '../membership.ts';
import { decodeGroupPlaintext } from '../plaintext.ts';
import type { UserId } from '../../user-id.ts';
import { buildGroupVectors, INPUTS, type GroupVectors } from './build-group-vectors.ts';

const V = JSON.parse(readFileSync(new URL('./group-vectors.json', import.meta.url), 'utf8')) as GroupVectors;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const providers: Record<string, Crypto> = {};
beforeAll(async () => {
  providers.wasm = await createSodiumCrypto();
  providers.native = createNativeCrypto();
});

describe.each(['wasm', 'native'])('groups golden vectors, %s provider', (name) => {
  let crypto: Crypto;
  beforeAll(() => {
    crypto = providers[name]!;
  });

  it('every output is the frozen one, byte for byte', () => {
    expect(buildGroupVectors(crypto)).toEqual(V);
  });

  it('the KDFs are the documented compositions of HMAC, HKDF and SHA-256', () => {
    expect(toHex(crypto.hmac(INPUTS.chainKey, Uint8Array.of(2)))).toBe(V.chainStep.chainKey);
    expect(toHex(crypto.hmac(INPUTS.chainKey, Uint8Array.of(1)))).toBe(V.chainStep.messageKey);
    expect(toHex(crypto.hkdf(new Uint8Array(32), fromHex(V.chainStep.messageKey), enc('ratchetd-v1/group-MK'), 32))).toBe(V.groupMessageKey);
    const alice = userIdBytes(V.userIds.alice as UserId);
    expect(toHex(crypto.hmac(INPUTS.copyRoot, concat(enc('ratchetd-v1/group-copy'), alice)))).toBe(V.copySecret);
    expect(toHex(crypto.hmac(fromHex(V.copySecret), enc('ratchetd-v1/group-wrap')))).toBe(V.wrapKey);
    expect(toHex(crypto.hmac(fromHex(V.copySecret), enc('ratchetd-v1/group-route')).subarray(0, 16))).toBe(V.routingTag);
    const owner = crypto.ed25519KeyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => 1 + i)).publicKey;
    expect(toHex(crypto.sha256(concat(enc('ratchetd-v1/group-id'), owner, INPUTS.groupNonce)).subarray(0, 16))).toBe(V.groupId);
  });

  it('membership versions: the documented layout, signed over the label, chained by hash', () => {
    const v1 = fromHex(V.membershipV1);
    const v2 = fromHex(V.membershipV2);
    const m1 = verifyMembership(crypto, v1);
    const m2 = verifyMembership(crypto, v2);
    expect(toHex(m1.groupId)).toBe(V.groupId);
    expect(m1.version).toBe(1);
    expect(m1.members.length).toBe(3);
    expect(m2.members.length).toBe(2);
    const signedPart = v1.subarray(0, v1.length - 64);
    expect(crypto.verify(v1.subarray(v1.length - 64), concat(enc('ratchetd-v1/group-membership'), signedPart), m1.ownerKey)).toBe(true);
    expect(toHex(crypto.sha256(concat(enc('ratchetd-v1/group-version'), signedPart)))).toBe(V.membershipV1Hash);
    // version 2: format ‖ id ‖ nonce ‖ owner key ‖ version u64 = 2 ‖ prevHash = hash(v1)
    expect(toHex(v2.subarray(1 + 16 + 16 + 32, 1 + 16 + 16 + 32 + 8))).toBe('0000000000000002');
    expect(toHex(v2.subarray(73, 105))).toBe(V.membershipV1Hash);
    // 1 + 16 + 16 + 32 + 8 + 32 + 8 + (2 + 12) + 2 + 3 × 20 + 64
    expect(v1.length).toBe(253);
  });

  it('the group message opens and verifies from the raw primitives, as message.ts documents', () => {
    const m = fromHex(V.groupMessage);
    const groupId = fromHex(V.groupId);
    const sender = userIdBytes(V.userIds.owner as UserId);
    const header = m.subarray(0, 9);
    expect(toHex(header)).toBe('010102030400000005');
    expect(toHex(m.subarray(9, 33))).toBe(toHex(INPUTS.messageNonce));
    const ciphertext = m.subarray(33, m.length - 64);
    expect(ciphertext.length).toBe(256 + 16);
    const padded = crypto.aeadDecrypt(fromHex(V.groupMessageKey), INPUTS.messageNonce, ciphertext, concat(groupId, sender, header));
    expect(padded).not.toBeNull();
    const p = fromHex(V.groupPlaintext);
    expect(toHex(padded!.subarray(0, p.length))).toBe(V.groupPlaintext);
    expect(padded![p.length]).toBe(0x80);
    const signing = crypto.ed25519KeyPairFromSeed(INPUTS.signingSeed).publicKey;
    const signed = concat(enc('ratchetd-v1/group-message'), groupId, sender, header, INPUTS.messageNonce, ciphertext);
    expect(crypto.verify(m.subarray(m.length - 64), signed, signing)).toBe(true);
    expect(new TextDecoder().decode(decodeGroupPlaintext(p).body)).toBe('ratchetd golden group message');
  });

  it('the copy envelope: version ‖ 0x03 ‖ tag ‖ nonce ‖ AEAD(WK, nonce, group message, version ‖ 0x03 ‖ tag)', () => {
    const env = fromHex(V.copyEnvelope);
    expect(toHex(env.subarray(0, 2))).toBe('0103');
    expect(toHex(env.subarray(2, 18))).toBe(V.routingTag);
    const inner = crypto.aeadDecrypt(fromHex(V.wrapKey), INPUTS.copyNonce, env.subarray(42), concat(Uint8Array.of(1, 3), fromHex(V.routingTag)));
    expect(inner && toHex(inner)).toBe(V.groupMessage);
    expect(decodeGroupEnvelope(env).tag).toEqual(fromHex(V.routingTag));
    expect(env.length).toBe(2 + 16 + 24 + 369 + 16);
    // the one-buffer assembly used per member is the general encoder's layout
    const keys = { wrapKey: fromHex(V.wrapKey), tag: fromHex(V.routingTag) };
    expect(toHex(wrapCopy(crypto, keys, fromHex(V.groupMessage), INPUTS.copyNonce))).toBe(V.copyEnvelope);
    expect(toHex(wrapCopyByEncoder(crypto, keys, fromHex(V.groupMessage), INPUTS.copyNonce))).toBe(V.copyEnvelope);
  });

  it('the distribution and every group content decode and re-encode to the same bytes', () => {
    expect(toHex(encodeDistribution(decodeDistribution(fromHex(V.distribution))))).toBe(V.distribution);
    expect(fromHex(V.distribution).length).toBe(137);
    for (const hex of Object.values(V.contents)) expect(toHex(encodeGroupContent(decodeGroupContent(fromHex(hex))))).toBe(hex);
    // content header: version 1 ‖ kind ‖ message id ‖ seq ‖ prevHash ‖ sentAt
    expect(V.contents['receipt']!.slice(0, 4)).toBe('0108');
    expect(V.contents['sealed']!.slice(0, 4)).toBe('0104');
    expect(V.contents['leave']!.slice(0, 4)).toBe('0109');
  });
});
