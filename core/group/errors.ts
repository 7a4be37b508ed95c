/**
 * Typed errors of the groups protocol core. Decoders throw the core's DecodeError (errors.ts) and
 * nothing else; every semantic refusal is a GroupError with a stable `code`. Messages never contain
 * keys, plaintext or member lists.
 *
 * What the engine does with each (phase 2 maps them to API statuses and recovery actions):
 *   NotGroupOwner       a membership change not made (signed and sent) by the owner → refuse, report
 *                       (API: PERMISSION_DENIED for a local caller that is not the owner)
 *   NotGroupMember      this daemon, or the sender, is not a member of the version at hand → refuse
 *                       (API: FAILED_PRECONDITION for a send to a group left or removed from)
 *   WrongGroup          bytes of another group than the one they are applied to → refuse
 *   StaleGroupVersion   a version older than the applied one (a replay) → drop
 *   ForkedGroupVersion  the applied version number with other content, or a next version that does
 *                       not chain to the applied one → refuse, report
 *   GroupVersionGap     a version beyond the next one (an earlier one is missing) → hold, ask the owner
 *   GroupVersionBehind  a sender key made for a membership version this member has not applied yet
 *                       → hold until it has
 *   GroupTooLarge       more than MAX_GROUP_MEMBERS
 *   InvalidGroupChange  a change the owner may not make (remove itself, an empty name that is too long …)
 *   BadSignature        a membership version or group message whose signature does not verify
 *   UnknownSenderKey    no chain of this sender under this key id → hold, send a key request
 *   ConflictingSenderKey a second, different key under a key id already known → refuse, report
 *   TooFarAhead         beyond MAX_GROUP_SKIP on a known chain → hold, send a key request
 *   Duplicate           this message's key is gone: already used, or evicted/expired → drop
 *   BadMessage          a copy that does not open, or a ciphertext that does not authenticate → drop
 *   SenderKeyExhausted  the sending chain reached its counter limit (rotation is overdue)
 *   MessageTooLarge     a body above MAX_GROUP_BODY_BYTES
 */
import { CodedError } from '../errors.ts';

export type GroupErrorCode =
  | 'NotGroupOwner'
  | 'NotGroupMember'
  | 'WrongGroup'
  | 'StaleGroupVersion'
  | 'ForkedGroupVersion'
  | 'GroupVersionGap'
  | 'GroupVersionBehind'
  | 'GroupTooLarge'
  | 'InvalidGroupChange'
  | 'BadSignature'
  | 'UnknownSenderKey'
  | 'ConflictingSenderKey'
  | 'TooFarAhead'
  | 'Duplicate'
  | 'BadMessage'
  | 'SenderKeyExhausted'
  | 'MessageTooLarge';

export class GroupError extends CodedError<GroupErrorCode> {}

export function isGroupError(e: unknown): e is GroupError {
  return e instanceof GroupError;
}
