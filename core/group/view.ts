/**
 * A member's view of a group: the last membership version it applied, and the rules for applying the
 * next one. One writer (the owner); a member applies only the owner's next version:
 *
 *   join (no view yet)   any owner-signed version, sent by the owner, that lists this member
 *   next version         same group and owner, version = applied + 1, prevHash = hash(applied)
 *   refused              sent by anyone but the owner or signed by anyone else (NotGroupOwner), bad
 *                        signature (BadSignature), another group (WrongGroup), an older version
 *                        (StaleGroupVersion), the applied version again (Duplicate: identical, or
 *                        ForkedGroupVersion: different), a next version that does not chain
 *                        (ForkedGroupVersion), a later one (GroupVersionGap: hold, ask the owner)
 *
 * The relay cannot inject a version: they travel inside pairwise sessions, and only the owner's key
 * signs them. Stored record (versioned):
 *   format u8 (= 1) ‖ lastRemovalVersion u64 ‖ membership (u32 length ‖ bytes)
 * lastRemovalVersion is the latest version that removed someone (the version joined at, for a
 * joiner): a sender key made before it must be replaced before its next message (sender-key.ts).
 */
import type { Crypto } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import type { UserId } from '../user-id.ts';
import { GroupError } from './errors.ts';
import { MAX_MEMBERSHIP_BYTES, verifyMembership, type Membership } from './membership.ts';

const VIEW_FORMAT = 1;

export interface GroupView extends Membership {
  readonly lastRemovalVersion: number;
}

export interface Applied {
  /** the new view; null when this member is no longer in the group */
  readonly view: GroupView | null;
  /** the version just applied (for the API's group_changed event, also when removed) */
  readonly membership: Membership;
  readonly added: readonly UserId[];
  readonly removed: readonly UserId[];
  readonly joined: boolean;
  readonly selfRemoved: boolean;
}

/** The owner's own view of a version it made (it applies its own changes without the checks). */
export function ownView(m: Membership, previous: GroupView | null): GroupView {
  const removedSomeone = previous !== null && previous.members.some((x) => !m.memberSet.has(x));
  return { ...m, lastRemovalVersion: previous === null || removedSomeone ? m.version : previous.lastRemovalVersion };
}

/**
 * Applies a version received pairwise from `from` to `current` (null: not yet a member). Pure: on a
 * throw nothing changed.
 */
export function applyMembership(crypto: Crypto, current: GroupView | null, bytes: Uint8Array, from: UserId, self: UserId): Applied {
  const m = verifyMembership(crypto, bytes);
  if (from !== m.owner) throw new GroupError('NotGroupOwner', 'membership: not sent by the group owner');
  if (current === null) {
    if (!m.memberSet.has(self)) throw new GroupError('NotGroupMember', 'membership: this daemon is not a member of that version');
    return { view: { ...m, lastRemovalVersion: m.version }, membership: m, added: m.members, removed: [], joined: true, selfRemoved: false };
  }
  if (!crypto.equal(m.groupId, current.groupId)) throw new GroupError('WrongGroup', 'membership: another group');
  if (!crypto.equal(m.ownerKey, current.ownerKey)) throw new GroupError('NotGroupOwner', 'membership: signed by another owner');
  if (m.version === current.version) {
    if (crypto.equal(m.hash, current.hash)) throw new GroupError('Duplicate', 'membership: version already applied');
    throw new GroupError('ForkedGroupVersion', 'membership: another version under the applied number');
  }
  if (m.version < current.version) throw new GroupError('StaleGroupVersion', 'membership: older than the applied version');
  if (m.version > current.version + 1) throw new GroupError('GroupVersionGap', 'membership: an earlier version is missing');
  if (!crypto.equal(m.prevHash, current.hash)) throw new GroupError('ForkedGroupVersion', 'membership: does not chain to the applied version');
  const added = m.members.filter((x) => !current.memberSet.has(x));
  const removed = current.members.filter((x) => !m.memberSet.has(x));
  const selfRemoved = !m.memberSet.has(self);
  const view: GroupView = { ...m, lastRemovalVersion: removed.length > 0 ? m.version : current.lastRemovalVersion };
  return { view: selfRemoved ? null : view, membership: m, added, removed, joined: false, selfRemoved };
}

export function encodeGroupView(v: GroupView): Uint8Array {
  return new Writer().u8(VIEW_FORMAT).u64(v.lastRemovalVersion).bytes32(v.bytes).finish();
}

/** Parses a stored view (the signature is checked again); DecodeError on anything wrong. */
export function decodeGroupView(crypto: Crypto, bytes: Uint8Array): GroupView {
  const r = new Reader(bytes, 'group view');
  if (r.u8() !== VIEW_FORMAT) throw new DecodeError('group view: unsupported format', 'UnsupportedVersion');
  const lastRemovalVersion = r.u64();
  const membership = r.bytes32(MAX_MEMBERSHIP_BYTES);
  r.end();
  let m: Membership;
  try {
    m = verifyMembership(crypto, membership);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError('group view: stored membership does not verify');
  }
  if (lastRemovalVersion > m.version || lastRemovalVersion < 1) throw new DecodeError('group view: bad lastRemovalVersion');
  return { ...m, lastRemovalVersion };
}
