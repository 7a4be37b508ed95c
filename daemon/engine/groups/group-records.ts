/**
 * The engine's own group records (the protocol core encodes views, sender keys, chains, seq logs and
 * member delivery: core/group/). Each starts with a version byte; decoders throw DecodeError only.
 *
 *   groupOutbox   key seq   an own group message (its plaintext) and the members it was addressed
 *                           to, until each has receipted it or left: re-sent pairwise to a member
 *                           that does not receipt it (or asks for our key)
 *   groupPairwise key seq   a group content (encoded, core/group/content.ts) for a member, staged in
 *                           the same batch as the group state that made it; moved into that
 *                           member's pairwise session (and the regular outbox) in one later batch
 *   groupHeld     key seq   a copy, or a pairwise group content from `from`, that cannot be read
 *                           yet (its key or version still on the way): retried after each progress
 *   groupLeft     key group this daemon left or was removed from the group at `at`
 */
import { Reader, Writer } from '../../../core/bytes.ts';
import { DecodeError } from '../../../core/errors.ts';
import { GROUP_ID_BYTES } from '../../../core/limits.ts';
import { parseUserId, type UserId } from '../../../core/user-id.ts';

const V1 = 1;
const MAX_BLOB = 1 << 24;
const MAX_MEMBERS_STORED = 1 << 16;

function header(r: Reader, what: string): void {
  if (r.u8() !== V1) throw new DecodeError(`${what}: unknown version`, 'UnsupportedVersion');
}
const userId = (r: Reader): UserId => parseUserId(r.string16(64));

// ---- groupOutbox ---------------------------------------------------------------------------

export interface GroupOutboxRecord {
  seq: number;
  groupId: Uint8Array;
  /** encodeGroupPlaintext of the message (its id, senderSeq, version, body) */
  plaintext: Uint8Array;
  senderSeq: number;
  messageId: Uint8Array;
  addressed: readonly UserId[];
  createdAt: number;
}

export function encodeGroupOutbox(x: GroupOutboxRecord): Uint8Array {
  const w = new Writer().u8(V1).u64(x.seq).fixed(x.groupId).bytes32(x.plaintext).u64(x.senderSeq).fixed(x.messageId).u64(x.createdAt).u32(x.addressed.length);
  for (const m of x.addressed) w.string16(m);
  return w.finish();
}

export function decodeGroupOutbox(b: Uint8Array): GroupOutboxRecord {
  const r = new Reader(b, 'group outbox record');
  header(r, 'group outbox record');
  const seq = r.u64();
  const groupId = r.fixed(GROUP_ID_BYTES);
  const plaintext = r.bytes32(MAX_BLOB);
  const senderSeq = r.u64();
  const messageId = r.fixed(16);
  const createdAt = r.u64();
  const n = r.u32();
  if (n > MAX_MEMBERS_STORED) throw new DecodeError('group outbox record: too many members');
  const addressed: UserId[] = [];
  for (let i = 0; i < n; i++) addressed.push(userId(r));
  r.end();
  return { seq, groupId, plaintext, senderSeq, messageId, addressed, createdAt };
}

// ---- groupPairwise -------------------------------------------------------------------------

export interface GroupPairwiseRecord {
  seq: number;
  to: UserId;
  /** encodeGroupContent: the body of the pairwise message */
  content: Uint8Array;
}

export function encodeGroupPairwise(x: GroupPairwiseRecord): Uint8Array {
  return new Writer().u8(V1).u64(x.seq).string16(x.to).bytes32(x.content).finish();
}

export function decodeGroupPairwise(b: Uint8Array): GroupPairwiseRecord {
  const r = new Reader(b, 'group pairwise record');
  header(r, 'group pairwise record');
  const x = { seq: r.u64(), to: userId(r), content: r.bytes32(MAX_BLOB) };
  r.end();
  return x;
}

// ---- groupHeld -----------------------------------------------------------------------------

export interface GroupHeldRecord {
  seq: number;
  /** null for a copy (its sender is unknown until its key arrives) */
  from: UserId | null;
  /** the copy envelope, or the encoded group content */
  bytes: Uint8Array;
  receivedAt: number;
}

export function encodeGroupHeld(x: GroupHeldRecord): Uint8Array {
  const w = new Writer().u8(V1).u64(x.seq).bool(x.from !== null);
  if (x.from !== null) w.string16(x.from);
  return w.bytes32(x.bytes).u64(x.receivedAt).finish();
}

export function decodeGroupHeld(b: Uint8Array): GroupHeldRecord {
  const r = new Reader(b, 'group held record');
  header(r, 'group held record');
  const seq = r.u64();
  const from = r.bool() ? userId(r) : null;
  const x = { seq, from, bytes: r.bytes32(MAX_BLOB), receivedAt: r.u64() };
  r.end();
  return x;
}

// ---- groupLeft -----------------------------------------------------------------------------

export interface GroupLeftRecord {
  at: number;
  /** the membership version at which this daemon went out: only a later version lets it join again */
  version: number;
  /** true: removed by the owner; false: left (or dissolved it, as its owner) */
  removed: boolean;
}

export function encodeGroupLeft(x: GroupLeftRecord): Uint8Array {
  return new Writer().u8(V1).u64(x.at).u64(x.version).bool(x.removed).finish();
}

export function decodeGroupLeft(b: Uint8Array): GroupLeftRecord {
  const r = new Reader(b, 'group left record');
  header(r, 'group left record');
  const x = { at: r.u64(), version: r.u64(), removed: r.bool() };
  r.end();
  return x;
}

// ---- a core record with its logical key (blinded kinds iterate without their keys) ---------

export interface Keyed {
  groupId: Uint8Array;
  /** the member or sender it is about; null for per-group records */
  member: UserId | null;
  inner: Uint8Array;
}

export function encodeKeyed(x: Keyed): Uint8Array {
  const w = new Writer().u8(V1).fixed(x.groupId).bool(x.member !== null);
  if (x.member !== null) w.string16(x.member);
  return w.bytes32(x.inner).finish();
}

export function decodeKeyed(b: Uint8Array): Keyed {
  const r = new Reader(b, 'group record');
  header(r, 'group record');
  const groupId = r.fixed(GROUP_ID_BYTES);
  const member = r.bool() ? userId(r) : null;
  const x = { groupId, member, inner: r.bytes32(MAX_BLOB) };
  r.end();
  return x;
}
