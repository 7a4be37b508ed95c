/**
 * Membership versions: the owner's signed, hash-chained member list.
 *
 *   signed part = format u8 (= 1) ‖ group id (16) ‖ group nonce (16) ‖ owner Ed25519 key (32)
 *                 ‖ version u64 (≥ 1) ‖ prevHash (32) ‖ changedAt u64 (ms, the owner's clock)
 *                 ‖ name (u16 length ‖ UTF-8, ≤ MAX_GROUP_NAME_BYTES)
 *                 ‖ member count u16 (1 … MAX_GROUP_MEMBERS) ‖ members (count × 20 raw user ids,
 *                   strictly ascending by bytes, the owner's included)
 *   version     = signed part ‖ Ed25519(owner IK, "ratchetd-v1/group-membership" ‖ signed part) (64)
 *
 *   group id  = SHA-256("ratchetd-v1/group-id" ‖ owner key ‖ nonce)[0..16]  (group-kdf.ts): the id
 *               names its owner, so nobody else can sign a version of it
 *   prevHash  = 32 zero bytes for version 1, else SHA-256("ratchetd-v1/group-version" ‖ signed part
 *               of version − 1)
 *
 * Every accepted encoding is canonical (sorted unique members, zero prevHash exactly for version 1,
 * UTF-8 name, no trailing bytes). Versions travel only inside pairwise sessions (content.ts kind 5):
 * the relay never sees a group id or a member list.
 */
import type { Crypto } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { Reader, Writer, concat, utf8 } from '../bytes.ts';
import { GROUP_ID_BYTES, MAX_GROUP_MEMBERS, MAX_GROUP_NAME_BYTES } from '../limits.ts';
import type { LocalIdentity } from '../identity.ts';
import { deriveUserId, USER_ID_BYTES, type UserId } from '../user-id.ts';
import { GroupError } from './errors.ts';
import { deriveGroupId, versionHash } from './group-kdf.ts';
import { compareBytes, groupIdText, userIdBytes, userIdFromBytes } from './ids.ts';

const MEMBERSHIP_FORMAT = 1;
const NONCE_BYTES = 16;
const KEY_BYTES = 32;
const HASH_BYTES = 32;
const SIGNATURE_BYTES = 64;
export const MEMBERSHIP_SIGNATURE_LABEL = utf8.encode('ratchetd-v1/group-membership');
/** Largest encoded version: every field at its maximum. */
export const MAX_MEMBERSHIP_BYTES =
  1 + GROUP_ID_BYTES + NONCE_BYTES + KEY_BYTES + 8 + HASH_BYTES + 8 + 2 + MAX_GROUP_NAME_BYTES + 2 + MAX_GROUP_MEMBERS * USER_ID_BYTES + SIGNATURE_BYTES;
const ZERO_HASH = new Uint8Array(HASH_BYTES);

/** A parsed membership version (its signature not yet checked unless it came from verifyMembership). */
export interface Membership {
  readonly groupId: Uint8Array;
  /** groupIdText(groupId): the API's group_id */
  readonly groupIdText: string;
  readonly nonce: Uint8Array;
  /** raw Ed25519 identity key of the owner */
  readonly ownerKey: Uint8Array;
  readonly owner: UserId;
  readonly version: number;
  readonly prevHash: Uint8Array;
  readonly changedAt: number;
  readonly name: string;
  /** ascending by raw bytes, owner included */
  readonly members: readonly UserId[];
  readonly memberSet: ReadonlySet<UserId>;
  /** the signed part (what prevHash of the next version hashes) */
  readonly signedPart: Uint8Array;
  readonly signature: Uint8Array;
  /** the whole encoding: signed part ‖ signature */
  readonly bytes: Uint8Array;
  /** versionHash(signedPart) */
  readonly hash: Uint8Array;
}

export interface MembershipFields {
  readonly groupId: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ownerKey: Uint8Array;
  readonly version: number;
  readonly prevHash: Uint8Array;
  readonly changedAt: number;
  readonly name: string;
  readonly members: readonly UserId[];
}

function checkName(name: string): void {
  if (utf8.encode(name).length > MAX_GROUP_NAME_BYTES) throw new GroupError('InvalidGroupChange', `group name longer than ${MAX_GROUP_NAME_BYTES} bytes`);
}

/** Raw member ids, sorted and unique; GroupTooLarge past the limit. */
function canonicalMembers(members: Iterable<UserId>): Uint8Array[] {
  const raw = [...new Set(members)].map(userIdBytes).sort(compareBytes);
  if (raw.length > MAX_GROUP_MEMBERS) throw new GroupError('GroupTooLarge', `a group has at most ${MAX_GROUP_MEMBERS} members`);
  return raw;
}

function encodeSignedPart(f: MembershipFields): Uint8Array {
  const raw = canonicalMembers(f.members);
  const w = new Writer()
    .u8(MEMBERSHIP_FORMAT)
    .fixed(f.groupId)
    .fixed(f.nonce)
    .fixed(f.ownerKey)
    .u64(f.version)
    .fixed(f.prevHash)
    .u64(f.changedAt)
    .string16(f.name)
    .u16(raw.length);
  for (const m of raw) w.fixed(m);
  return w.finish();
}

/** Parses a version (structure only: DecodeError on anything malformed or non-canonical). */
export function decodeMembership(bytes: Uint8Array): Omit<Membership, 'hash' | 'owner'> & { readonly ownerKey: Uint8Array } {
  if (bytes.length > MAX_MEMBERSHIP_BYTES) throw new DecodeError('membership: too long');
  if (bytes.length < SIGNATURE_BYTES + 1) throw new DecodeError('membership: truncated');
  const signedPart = bytes.slice(0, bytes.length - SIGNATURE_BYTES);
  const signature = bytes.slice(bytes.length - SIGNATURE_BYTES);
  const r = new Reader(signedPart, 'membership');
  if (r.u8() !== MEMBERSHIP_FORMAT) throw new DecodeError('membership: unsupported format', 'UnsupportedVersion');
  const groupId = r.fixed(GROUP_ID_BYTES);
  const nonce = r.fixed(NONCE_BYTES);
  const ownerKey = r.fixed(KEY_BYTES);
  const version = r.u64();
  const prevHash = r.fixed(HASH_BYTES);
  const changedAt = r.u64();
  const rawName = r.bytes16(MAX_GROUP_NAME_BYTES);
  const name = utf8.decode(rawName);
  if (utf8.encode(name).length !== rawName.length) throw new DecodeError('membership: non-canonical name');
  const count = r.u16();
  if (count < 1 || count > MAX_GROUP_MEMBERS) throw new DecodeError('membership: bad member count');
  const members: UserId[] = [];
  let previous: Uint8Array | null = null;
  for (let i = 0; i < count; i++) {
    const raw = r.fixed(USER_ID_BYTES);
    if (previous !== null && compareBytes(previous, raw) >= 0) throw new DecodeError('membership: members not strictly ascending');
    members.push(userIdFromBytes(raw));
    previous = raw;
  }
  r.end();
  if (version < 1) throw new DecodeError('membership: version 0');
  if ((version === 1) !== prevHash.every((b) => b === 0)) throw new DecodeError('membership: prevHash must be zero exactly for version 1');
  return {
    groupId,
    groupIdText: groupIdText(groupId),
    nonce,
    ownerKey,
    version,
    prevHash,
    changedAt,
    name,
    members,
    memberSet: new Set(members),
    signedPart,
    signature,
    bytes: bytes.slice(),
  };
}

/**
 * Parses and authenticates a version: the group id must be the owner key's (else NotGroupOwner: the
 * signer claims a group it does not own), the owner must be a member, the signature must verify under
 * the owner key (BadSignature). Says nothing about whether it follows the version a member holds
 * (applyMembership does).
 */
export function verifyMembership(crypto: Crypto, bytes: Uint8Array): Membership {
  const m = decodeMembership(bytes);
  if (!crypto.equal(deriveGroupId(crypto, m.ownerKey, m.nonce), m.groupId)) {
    throw new GroupError('NotGroupOwner', 'membership: the signer does not own this group id');
  }
  let owner: UserId;
  try {
    owner = deriveUserId(crypto, m.ownerKey);
  } catch {
    throw new DecodeError('membership: bad owner key', 'InvalidKey');
  }
  if (!m.memberSet.has(owner)) throw new DecodeError('membership: the owner is not a member');
  if (!crypto.verify(m.signature, concat(MEMBERSHIP_SIGNATURE_LABEL, m.signedPart), m.ownerKey)) {
    throw new GroupError('BadSignature', 'membership: signature does not verify');
  }
  return { ...m, owner, hash: versionHash(crypto, m.signedPart) };
}

/** Signs a version (the owner's side). */
export function signMembership(crypto: Crypto, owner: LocalIdentity, f: Omit<MembershipFields, 'ownerKey'>): Membership {
  checkName(f.name);
  if (f.groupId.length !== GROUP_ID_BYTES || f.nonce.length !== NONCE_BYTES || f.prevHash.length !== HASH_BYTES) {
    throw new DecodeError('membership: bad field length');
  }
  if (!f.members.includes(owner.userId)) throw new GroupError('InvalidGroupChange', 'the owner must be a member');
  const signedPart = encodeSignedPart({ ...f, ownerKey: owner.keyPair.publicKey });
  const signature = crypto.sign(concat(MEMBERSHIP_SIGNATURE_LABEL, signedPart), owner.keyPair.privateKey);
  return verifyMembership(crypto, concat(signedPart, signature));
}

/** Version 1 of a new group: the owner and `members`; a fresh nonce gives a fresh group id. */
export function createMembership(crypto: Crypto, owner: LocalIdentity, name: string, members: readonly UserId[], now: number): Membership {
  checkName(name);
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const groupId = deriveGroupId(crypto, owner.keyPair.publicKey, nonce);
  return signMembership(crypto, owner, { groupId, nonce, version: 1, prevHash: ZERO_HASH, changedAt: now, name, members: [owner.userId, ...members] });
}

export interface MembershipChange {
  readonly add?: readonly UserId[];
  readonly remove?: readonly UserId[];
  readonly name?: string;
}

/**
 * The owner's next version after `current`: NotGroupOwner unless `owner` owns it; InvalidGroupChange
 * when it removes the owner (an owner leaves by removing everyone else: dissolveMembership).
 * Returns null when nothing changes (adding a member, removing a non-member, the same name).
 */
export function changeMembership(crypto: Crypto, owner: LocalIdentity, current: Membership, change: MembershipChange, now: number): Membership | null {
  if (owner.userId !== current.owner || !crypto.equal(owner.keyPair.publicKey, current.ownerKey)) {
    throw new GroupError('NotGroupOwner', 'only the owner changes the member list');
  }
  if (change.remove?.includes(current.owner)) throw new GroupError('InvalidGroupChange', 'the owner cannot remove itself (it dissolves the group instead)');
  const members = new Set(current.members);
  for (const m of change.add ?? []) members.add(m);
  for (const m of change.remove ?? []) members.delete(m);
  const name = change.name ?? current.name;
  const same = name === current.name && members.size === current.members.length && current.members.every((m) => members.has(m));
  if (same) return null;
  return signMembership(crypto, owner, {
    groupId: current.groupId,
    nonce: current.nonce,
    version: current.version + 1,
    prevHash: current.hash,
    changedAt: now,
    name,
    members: [...members],
  });
}

/** The owner's last version: everyone else removed (every member learns it is out). */
export function dissolveMembership(crypto: Crypto, owner: LocalIdentity, current: Membership, now: number): Membership | null {
  return changeMembership(crypto, owner, current, { remove: current.members.filter((m) => m !== current.owner) }, now);
}
