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
 *   ‖ member count × since u64 (in the membership's member order)
 * lastRemovalVersion is the latest version that removed someone (the version joined at, for a
 * joiner): a sender key made before it must be replaced before its next message (sender-key.ts).
 * since[m] is the version from which m is a member without a break, as this member saw it (the
 * version it joined at, for everyone it found there): keys and messages made under an older version
 * belong to an earlier membership of m or of this member, and are refused (sinceBoth).
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
  /** per member: the version from which it is a member without a break (as seen here) */
  readonly since: ReadonlyMap<UserId, number>;
}

function sinceAfter(m: Membership, previous: GroupView | null): Map<UserId, number> {
  return new Map(m.members.map((x) => [x, previous?.since.get(x) ?? m.version]));
}

/**
 * The oldest membership version a key or message exchanged between `a` and `b` may have been made
 * under: older ones were for an earlier membership of either. Undefined when one is not a member.
 */
export function sinceBoth(view: GroupView, a: UserId, b: UserId): number | undefined {
  const x = view.since.get(a);
  const y = view.since.get(b);
  return x === undefined || y === undefined ? undefined : Math.max(x, y);
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
  return { ...m, lastRemovalVersion: previous === null || removedSomeone ? m.version : previous.lastRemovalVersion, since: sinceAfter(m, previous) };
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
    return { view: { ...m, lastRemovalVersion: m.version, since: sinceAfter(m, null) }, membership: m, added: m.members, removed: [], joined: true, selfRemoved: false };
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
  const view: GroupView = { ...m, lastRemovalVersion: removed.length > 0 ? m.version : current.lastRemovalVersion, since: sinceAfter(m, current) };
  return { view: selfRemoved ? null : view, membership: m, added, removed, joined: false, selfRemoved };
}

export function encodeGroupView(v: GroupView): Uint8Array {
  const w = new Writer().u8(VIEW_FORMAT).u64(v.lastRemovalVersion).bytes32(v.bytes);
  for (const m of v.members) w.u64(v.since.get(m)!);
  return w.finish();
}

/** Parses a stored view (the signature is checked again); DecodeError on anything wrong. */
export function decodeGroupView(crypto: Crypto, bytes: Uint8Array): GroupView {
  const r = new Reader(bytes, 'group view');
  if (r.u8() !== VIEW_FORMAT) throw new DecodeError('group view: unsupported format', 'UnsupportedVersion');
  const lastRemovalVersion = r.u64();
  const membership = r.bytes32(MAX_MEMBERSHIP_BYTES);
  const versions: number[] = [];
  while (r.remaining > 0) versions.push(r.u64());
  r.end();
  let m: Membership;
  try {
    m = verifyMembership(crypto, membership);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError('group view: stored membership does not verify');
  }
  if (lastRemovalVersion < 1 || lastRemovalVersion > m.version) throw new DecodeError('group view: bad lastRemovalVersion');
  if (versions.length !== m.members.length || versions.some((x) => x < 1 || x > m.version)) throw new DecodeError('group view: bad member versions');
  return { ...m, lastRemovalVersion, since: new Map(m.members.map((x, i) => [x, versions[i]!])) };
}
