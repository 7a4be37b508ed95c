/**
 * The sender's per-member state in one group: which of its sender keys the member was given, and the
 * member's cumulative receipt (the highest senderSeq below which it has everything). It decides
 * whether a member gets a copy or the key bundled pairwise (send.ts), which messages to re-send to a
 * member (above deliveredUpTo, addressed to it), and the per-member `delivered` state the API reports.
 *
 * Stored record (per group and member): format u8 (= 1) ‖ has key u8 ‖ key id u32 ‖ deliveredUpTo u64
 */
import { DecodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import type { UserId } from '../user-id.ts';

const DELIVERY_FORMAT = 1;

export interface MemberDelivery {
  /** the key id this member was last given (its distribution was sent pairwise), or null */
  readonly keyId: number | null;
  readonly deliveredUpTo: number;
}

export type GroupDelivery = ReadonlyMap<UserId, MemberDelivery>;

export const NEW_MEMBER_DELIVERY: MemberDelivery = Object.freeze({ keyId: null, deliveredUpTo: 0 });

export function deliveryOf(d: GroupDelivery, member: UserId): MemberDelivery {
  return d.get(member) ?? NEW_MEMBER_DELIVERY;
}

/**
 * A member's cumulative receipt. Ignored (null) when it does not move forward, or when it claims
 * messages this sender never sent (`lastSentSeq`: its state is older than the member's, e.g. restored
 * from a backup; marking later messages delivered on that basis could lose them).
 */
export function applyGroupReceipt(current: MemberDelivery, upToSeq: number, lastSentSeq: number): MemberDelivery | null {
  if (upToSeq <= current.deliveredUpTo || upToSeq > lastSentSeq) return null;
  return { ...current, deliveredUpTo: upToSeq };
}

/** After a pairwise session reset (or a key request): the member gets the key again with the next message. */
export function forgetDistribution(current: MemberDelivery): MemberDelivery {
  return current.keyId === null ? current : { ...current, keyId: null };
}

export function encodeMemberDelivery(d: MemberDelivery): Uint8Array {
  return new Writer().u8(DELIVERY_FORMAT).bool(d.keyId !== null).u32(d.keyId ?? 0).u64(d.deliveredUpTo).finish();
}

export function decodeMemberDelivery(bytes: Uint8Array): MemberDelivery {
  const r = new Reader(bytes, 'member delivery');
  if (r.u8() !== DELIVERY_FORMAT) throw new DecodeError('member delivery: unsupported format', 'UnsupportedVersion');
  const hasKey = r.bool();
  const keyId = r.u32();
  const deliveredUpTo = r.u64();
  r.end();
  if (!hasKey && keyId !== 0) throw new DecodeError('member delivery: key id without flag');
  return { keyId: hasKey ? keyId : null, deliveredUpTo };
}
