import { beforeAll, describe, expect, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import type { Crypto } from '../crypto.ts';
import { concat } from '../bytes.ts';
import type { LocalIdentity } from '../identity.ts';
import { MAX_GROUP_MEMBERS, MAX_GROUP_NAME_BYTES } from '../limits.ts';
import type { UserId } from '../user-id.ts';
import { deriveGroupId } from './group-kdf.ts';
import { groupIdText, parseGroupId, userIdBytes, userIdFromBytes, GROUP_ID_TEXT_LENGTH } from './ids.ts';
import { changeMembership, createMembership, dissolveMembership, MEMBERSHIP_SIGNATURE_LABEL, signMembership, verifyMembership } from './membership.ts';
import { applyMembership, decodeGroupView, encodeGroupView, ownView, sinceBoth } from './view.ts';
import { codeOf, identities, T0 } from './test-fixtures.ts';

let crypto: Crypto;
let owner: LocalIdentity, alice: LocalIdentity, bob: LocalIdentity, carol: LocalIdentity, mallory: LocalIdentity;
beforeAll(() => {
  crypto = createNativeCrypto();
  [owner, alice, bob, carol, mallory] = identities(crypto, 5) as [LocalIdentity, LocalIdentity, LocalIdentity, LocalIdentity, LocalIdentity];
});

describe('ids', () => {
  it('user ids round-trip through their 20 raw bytes; group ids are 26 characters, never a user id', () => {
    expect(userIdFromBytes(userIdBytes(alice.userId))).toBe(alice.userId);
    const g = crypto.randomBytes(16);
    const text = groupIdText(g);
    expect(text.length).toBe(GROUP_ID_TEXT_LENGTH);
    expect(text.length).not.toBe(alice.userId.length);
    expect(parseGroupId(text)).toEqual(g);
    expect(codeOf(() => parseGroupId(alice.userId))).toBe('DecodeError');
    // the last character carries 2 padding bits that must be zero: a non-canonical text is refused
    const last = 'abcdefghijklmnopqrstuvwxyz234567'.indexOf(text[text.length - 1]!);
    const bad = text.slice(0, -1) + 'abcdefghijklmnopqrstuvwxyz234567'[last | 1];
    if (bad !== text) expect(codeOf(() => parseGroupId(bad))).toBe('DecodeError');
  });
});

describe('membership versions', () => {
  it('version 1: owner included, members sorted by bytes, id derived from the owner key and nonce', () => {
    const m = createMembership(crypto, owner, 'ops', [bob.userId, alice.userId, alice.userId], T0);
    expect(m.version).toBe(1);
    expect(new Set(m.members)).toEqual(new Set([owner.userId, alice.userId, bob.userId]));
    const raw = m.members.map(userIdBytes);
    for (let i = 1; i < raw.length; i++) expect(Buffer.compare(Buffer.from(raw[i - 1]!), Buffer.from(raw[i]!))).toBeLessThan(0);
    expect(m.groupId).toEqual(deriveGroupId(crypto, owner.keyPair.publicKey, m.nonce));
    expect(m.owner).toBe(owner.userId);
    expect(m.prevHash.every((b) => b === 0)).toBe(true);
  });

  it('every bit of the signed part and of the signature flipped: refused, never accepted', () => {
    const m = createMembership(crypto, owner, 'ops', [alice.userId], T0);
    let refused = 0;
    for (let i = 0; i < m.bytes.length * 8; i++) {
      const b = m.bytes.slice();
      b[i >> 3]! ^= 1 << (i & 7);
      const code = codeOf(() => verifyMembership(crypto, b));
      expect(['BadSignature', 'NotGroupOwner', 'DecodeError', 'UnsupportedVersion', 'InvalidKey']).toContain(code);
      refused++;
    }
    expect(refused).toBe(m.bytes.length * 8);
  });

  it('a non-owner cannot issue a version: its own key does not own the id, and the owner key is not its own', () => {
    const m = createMembership(crypto, owner, 'ops', [alice.userId, mallory.userId], T0);
    const view = applyMembership(crypto, null, m.bytes, owner.userId, alice.userId).view!;
    // mallory signs "the next version" of this group with its own key
    expect(codeOf(() => changeMembership(crypto, mallory, m, { remove: [alice.userId] }, T0))).toBe('NotGroupOwner');
    // signMembership refuses to make it at all; by hand: the owner's next version with mallory's key
    // in the owner field, signed by mallory
    expect(codeOf(() => signMembership(crypto, mallory, { groupId: m.groupId, nonce: m.nonce, version: 2, prevHash: m.hash, changedAt: T0, name: 'ops', members: [mallory.userId, owner.userId] }))).toBe('NotGroupOwner');
    const genuine = changeMembership(crypto, owner, m, { remove: [alice.userId] }, T0)!;
    const part = genuine.signedPart.slice();
    part.set(mallory.keyPair.publicKey, 1 + 16 + 16);
    const forged = concat(part, crypto.sign(concat(MEMBERSHIP_SIGNATURE_LABEL, part), mallory.keyPair.privateKey));
    expect(codeOf(() => applyMembership(crypto, view, forged, mallory.userId, alice.userId))).toBe('NotGroupOwner');
    // ... even when relayed as if from the owner; and the owner key with mallory's signature
    expect(codeOf(() => applyMembership(crypto, view, forged, owner.userId, alice.userId))).toBe('NotGroupOwner');
    const resigned = concat(genuine.signedPart, crypto.sign(concat(MEMBERSHIP_SIGNATURE_LABEL, genuine.signedPart), mallory.keyPair.privateKey));
    expect(codeOf(() => applyMembership(crypto, view, resigned, owner.userId, alice.userId))).toBe('BadSignature');
    // a genuine owner version forwarded by someone else is refused too (versions come from the owner)
    const next = changeMembership(crypto, owner, m, { add: [bob.userId] }, T0 + 1)!;
    expect(codeOf(() => applyMembership(crypto, view, next.bytes, mallory.userId, alice.userId))).toBe('NotGroupOwner');
    expect(applyMembership(crypto, view, next.bytes, owner.userId, alice.userId).view!.version).toBe(2);
  });

  it('the owner’s next version is applied; stale, replayed, forked and gapped versions are refused with the view unchanged', () => {
    const v1 = createMembership(crypto, owner, 'ops', [alice.userId, bob.userId], T0);
    const v2 = changeMembership(crypto, owner, v1, { add: [carol.userId] }, T0 + 1)!;
    const v3 = changeMembership(crypto, owner, v2, { remove: [bob.userId] }, T0 + 2)!;
    const fork2 = changeMembership(crypto, owner, v1, { remove: [bob.userId] }, T0 + 1)!; // another version 2
    const fork3 = changeMembership(crypto, owner, fork2, { name: 'other' }, T0 + 2)!; // a version 3 not chained to v2
    const a1 = applyMembership(crypto, null, v1.bytes, owner.userId, alice.userId).view!;
    const a2 = applyMembership(crypto, a1, v2.bytes, owner.userId, alice.userId);
    expect(a2.added).toEqual([carol.userId]);
    const before = encodeGroupView(a2.view!);
    expect(codeOf(() => applyMembership(crypto, a2.view, v1.bytes, owner.userId, alice.userId))).toBe('StaleGroupVersion');
    expect(codeOf(() => applyMembership(crypto, a2.view, v2.bytes, owner.userId, alice.userId))).toBe('Duplicate');
    expect(codeOf(() => applyMembership(crypto, a2.view, fork2.bytes, owner.userId, alice.userId))).toBe('ForkedGroupVersion');
    expect(codeOf(() => applyMembership(crypto, a2.view, fork3.bytes, owner.userId, alice.userId))).toBe('ForkedGroupVersion');
    expect(codeOf(() => applyMembership(crypto, a1, v3.bytes, owner.userId, alice.userId))).toBe('GroupVersionGap');
    const other = createMembership(crypto, owner, 'ops', [alice.userId], T0);
    expect(codeOf(() => applyMembership(crypto, a2.view, other.bytes, owner.userId, alice.userId))).toBe('WrongGroup');
    expect(encodeGroupView(a2.view!)).toEqual(before);
    const a3 = applyMembership(crypto, a2.view, v3.bytes, owner.userId, alice.userId);
    expect(a3.removed).toEqual([bob.userId]);
    expect(a3.view!.lastRemovalVersion).toBe(3);
    // bob learns it is out
    const b2 = applyMembership(crypto, applyMembership(crypto, null, v1.bytes, owner.userId, bob.userId).view, v2.bytes, owner.userId, bob.userId).view!;
    const b3 = applyMembership(crypto, b2, v3.bytes, owner.userId, bob.userId);
    expect(b3.selfRemoved).toBe(true);
    expect(b3.view).toBeNull();
    // a joiner starts from the version that lists it; one that does not is refused
    expect(applyMembership(crypto, null, v2.bytes, owner.userId, carol.userId).joined).toBe(true);
    expect(codeOf(() => applyMembership(crypto, null, v1.bytes, owner.userId, carol.userId))).toBe('NotGroupMember');
  });

  it('since: each member’s uninterrupted membership start, for refusing what belonged to an earlier membership', () => {
    const v1 = createMembership(crypto, owner, 'ops', [alice.userId, bob.userId], T0);
    const v2 = changeMembership(crypto, owner, v1, { remove: [bob.userId] }, T0)!;
    const v3 = changeMembership(crypto, owner, v2, { add: [bob.userId, carol.userId] }, T0)!;
    let a = applyMembership(crypto, null, v1.bytes, owner.userId, alice.userId).view!;
    a = applyMembership(crypto, a, v2.bytes, owner.userId, alice.userId).view!;
    a = applyMembership(crypto, a, v3.bytes, owner.userId, alice.userId).view!;
    expect(a.since.get(alice.userId)).toBe(1);
    expect(a.since.get(bob.userId)).toBe(3);
    expect(sinceBoth(a, alice.userId, bob.userId)).toBe(3);
    expect(sinceBoth(a, alice.userId, mallory.userId)).toBeUndefined();
    expect(decodeGroupView(crypto, encodeGroupView(a))).toEqual(a);
  });

  it('owner changes: no-op is null, the owner cannot remove itself, dissolving removes everyone else', () => {
    const v1 = createMembership(crypto, owner, 'ops', [alice.userId], T0);
    expect(changeMembership(crypto, owner, v1, { add: [alice.userId], remove: [bob.userId] }, T0)).toBeNull();
    expect(codeOf(() => changeMembership(crypto, owner, v1, { remove: [owner.userId] }, T0))).toBe('InvalidGroupChange');
    const d = dissolveMembership(crypto, owner, v1, T0)!;
    expect(d.members).toEqual([owner.userId]);
    expect(ownView(d, ownView(v1, null)).lastRemovalVersion).toBe(2);
  });

  it('limits: MAX_GROUP_MEMBERS members (owner included) and MAX_GROUP_NAME_BYTES', () => {
    const many = Array.from({ length: MAX_GROUP_MEMBERS - 1 }, () => userIdFromBytes(crypto.randomBytes(20)));
    const full = createMembership(crypto, owner, 'x'.repeat(MAX_GROUP_NAME_BYTES), many, T0);
    expect(full.members.length).toBe(MAX_GROUP_MEMBERS);
    expect(verifyMembership(crypto, full.bytes).members.length).toBe(MAX_GROUP_MEMBERS);
    expect(codeOf(() => changeMembership(crypto, owner, full, { add: [alice.userId] }, T0))).toBe('GroupTooLarge');
    expect(codeOf(() => createMembership(crypto, owner, 'x'.repeat(MAX_GROUP_NAME_BYTES + 1), [], T0))).toBe('InvalidGroupChange');
  });

  it('signatures are domain-separated: a version signature is over the label, not the bare signed part', () => {
    const m = createMembership(crypto, owner, 'ops', [alice.userId], T0);
    expect(crypto.verify(m.signature, concat(MEMBERSHIP_SIGNATURE_LABEL, m.signedPart), owner.keyPair.publicKey)).toBe(true);
    expect(crypto.verify(m.signature, m.signedPart, owner.keyPair.publicKey)).toBe(false);
  });
});

export type { UserId };
