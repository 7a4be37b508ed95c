/**
 * TEST ONLY. The golden vectors of groups: every KDF and format from fixed inputs, with every random
 * byte scripted. group-vectors.json holds the frozen outputs; golden.test.ts checks both libsodium
 * builds against it. Regenerate only for a deliberate, versioned format change:
 *   npx tsx core/group/vectors/build-group-vectors.ts > core/group/vectors/group-vectors.json
 */
import type { Crypto } from '../../crypto.ts';
import { toHex } from '../../bytes.ts';
import { ZERO_HASH } from '../../content.ts';
import { identityFromKeyPair, type LocalIdentity } from '../../identity.ts';
import { scriptedCrypto } from '../../vectors/test-crypto.ts';
import { encodeGroupContent, sealGroupContent, type GroupContentInput } from '../content.ts';
import { wrapCopy } from '../copy.ts';
import { encodeDistribution, type SenderKeyDistribution } from '../distribution.ts';
import { copyKeys, copySecret, deriveGroupId, groupChainStep, groupMessageKey, versionHash } from '../group-kdf.ts';
import { userIdBytes } from '../ids.ts';
import { changeMembership, createMembership } from '../membership.ts';
import { sealGroupMessage } from '../message.ts';
import { encodeGroupPlaintext, type GroupPlaintext } from '../plaintext.ts';

export const T0 = 1_700_000_000_000;
/** 32 bytes: b, b+1, … (mod 256). */
export function pattern(start: number, length = 32): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

function party(crypto: Crypto, seedStart: number): LocalIdentity {
  return identityFromKeyPair(crypto, crypto.ed25519KeyPairFromSeed(pattern(seedStart)));
}

export const INPUTS = {
  chainKey: pattern(0x10),
  copyRoot: pattern(0x30),
  groupNonce: pattern(0x50, 16),
  signingSeed: pattern(0x70),
  messageNonce: pattern(0x90, 24),
  copyNonce: pattern(0xb0, 24),
  messageId: pattern(0xd0, 16),
};

export function buildGroupVectors(base: Crypto) {
  const owner = party(base, 0x01);
  const alice = party(base, 0x02);
  const bob = party(base, 0x03);
  const step = groupChainStep(base, INPUTS.chainKey);
  const cs = copySecret(base, INPUTS.copyRoot, userIdBytes(alice.userId));
  const keys = copyKeys(base, cs);

  const v1 = createMembership(scriptedCrypto(base, [INPUTS.groupNonce]), owner, 'golden group', [alice.userId, bob.userId], T0);
  const v2 = changeMembership(base, owner, v1, { remove: [bob.userId] }, T0 + 1)!;

  const plaintext: GroupPlaintext = { messageId: INPUTS.messageId, senderSeq: 7, sentAt: T0 + 2, membershipVersion: 2, contentType: 'text/plain', body: new TextEncoder().encode('ratchetd golden group message') };
  const signing = base.ed25519KeyPairFromSeed(INPUTS.signingSeed);
  const message = sealGroupMessage(scriptedCrypto(base, [INPUTS.messageNonce]), {
    groupId: v1.groupId,
    sender: userIdBytes(owner.userId),
    keyId: 0x01020304,
    iteration: 5,
    messageKey: step.messageKey.slice(),
    signingPrivateKey: signing.privateKey,
    plaintext: encodeGroupPlaintext(plaintext),
  });
  const copy = wrapCopy(scriptedCrypto(base, [INPUTS.copyNonce]), keys, message);
  const distribution: SenderKeyDistribution = { groupId: v1.groupId, keyId: 0x01020304, iteration: 5, chainKey: INPUTS.chainKey, signingKey: signing.publicKey, copySecret: cs, firstSeq: 7, membershipVersion: 2 };

  const contents: Record<string, GroupContentInput> = {
    sealed: { kind: 'group-message', groupId: v1.groupId, mode: 'sealed', distribution, message },
    resent: { kind: 'group-message', groupId: v1.groupId, mode: 'resent', plaintext },
    membership: { kind: 'group-membership', membership: v2.bytes },
    senderKey: { kind: 'group-sender-key', distribution },
    keyRequest: { kind: 'group-key-request', groupId: v1.groupId, membershipVersion: 2, keyId: 0x01020304, haveUpToSeq: 6 },
    receipt: { kind: 'group-receipt', groupId: v1.groupId, upToSeq: 7 },
    leave: { kind: 'group-leave', groupId: v1.groupId, membershipVersion: 2 },
  };
  const encodedContents: Record<string, string> = {};
  for (const [name, input] of Object.entries(contents)) {
    const c = sealGroupContent(scriptedCrypto(base, [INPUTS.messageId]), input, 3, ZERO_HASH, T0 + 3);
    encodedContents[name] = toHex(encodeGroupContent(c));
  }

  return {
    chainStep: { chainKey: toHex(step.chainKey), messageKey: toHex(step.messageKey) },
    groupMessageKey: toHex(groupMessageKey(base, step.messageKey)),
    copySecret: toHex(cs),
    wrapKey: toHex(keys.wrapKey),
    routingTag: toHex(keys.tag),
    groupId: toHex(deriveGroupId(base, owner.keyPair.publicKey, INPUTS.groupNonce)),
    membershipV1: toHex(v1.bytes),
    membershipV1Hash: toHex(versionHash(base, v1.signedPart)),
    membershipV2: toHex(v2.bytes),
    groupPlaintext: toHex(encodeGroupPlaintext(plaintext)),
    groupMessage: toHex(message),
    copyEnvelope: toHex(copy),
    distribution: toHex(encodeDistribution(distribution)),
    contents: encodedContents,
    userIds: { owner: owner.userId, alice: alice.userId, bob: bob.userId },
  };
}

export type GroupVectors = ReturnType<typeof buildGroupVectors>;

if (import.meta.url === `file://${process.argv[1]}`) {
  const { createSodiumCrypto } = await import('../../../crypto/sodium.ts');
  console.log(JSON.stringify(buildGroupVectors(await createSodiumCrypto()), null, 2));
}
