/**
 * Sending to a group: one encryption and one signature per message, then one copy per member.
 *
 * planGroupSend, in order:
 *   1. this member must be in its view (NotGroupMember: a send to a group it left or was removed from)
 *   2. rotate the sender key first when due (sender-key.ts: removal, age, count, or none yet)
 *   3. the group plaintext gets the next senderSeq and the membership version applied now: the message
 *      is addressed to exactly the members of that version
 *   4. step the chain, seal (XChaCha20-Poly1305) and sign (Ed25519) once
 *   5. per member of the view but this one (the nonces of all copies drawn in one call):
 *        - it holds this key (delivery.keyId)  → a copy: the message wrapped under its copy keys
 *        - it does not                         → pairwise: the message bundled with the key, from this
 *          message's step (so a joiner reads nothing earlier); when the two do not fit one pairwise
 *          message (the largest padding bucket), the key goes pairwise alone and the message as a copy
 * The caller stores `senderKey` (and the delivery changes, the outbox entry) before anything is sent.
 * Pure: nothing is mutated; on a throw nothing changed.
 */
import type { Crypto } from '../crypto.ts';
import { MESSAGE_ID_BYTES } from '../content.ts';
import { MAX_BODY_BYTES } from '../limits.ts';
import type { UserId } from '../user-id.ts';
import { GroupError } from './errors.ts';
import { sealedContentBytes, type GroupContentInput } from './content.ts';
import { wrapCopy } from './copy.ts';
import { deliveryOf, type GroupDelivery, type MemberDelivery } from './delivery.ts';
import { userIdBytes } from './ids.ts';
import { GROUP_NONCE_BYTES, sealGroupMessage } from './message.ts';
import { checkGroupPlaintext, encodeGroupPlaintext, type GroupPlaintext } from './plaintext.ts';
import { createSenderKey, distributionFor, memberCopyKeys, rotationReason, stepSenderKey, type OwnSenderKey, type RotationReason } from './sender-key.ts';
import type { GroupView } from './view.ts';

export interface GroupSendInput {
  readonly body: Uint8Array;
  readonly contentType: string;
  /** a caller-chosen id (idempotency); random otherwise */
  readonly messageId?: Uint8Array;
}

export interface MemberOutput {
  readonly to: UserId;
  /** pairwise contents for this member, in order (none when a copy is enough) */
  readonly pairwise: readonly GroupContentInput[];
  /** the copy envelope for this member's inbox, or null when the message travels pairwise */
  readonly copy: Uint8Array | null;
}

export interface GroupSendPlan {
  readonly senderKey: OwnSenderKey;
  readonly rotated: RotationReason | null;
  readonly plaintext: GroupPlaintext;
  /** the group message (encrypted and signed once) */
  readonly message: Uint8Array;
  readonly outputs: readonly MemberOutput[];
  /** per-member records that changed (the key given) */
  readonly deliveryChanges: ReadonlyMap<UserId, MemberDelivery>;
}

export interface GroupSendArgs {
  readonly self: UserId;
  readonly view: GroupView;
  readonly senderKey: OwnSenderKey | null;
  readonly delivery: GroupDelivery;
  readonly input: GroupSendInput;
  readonly now: number;
}

export function planGroupSend(crypto: Crypto, a: GroupSendArgs): GroupSendPlan {
  const { self, view, now } = a;
  if (!view.memberSet.has(self)) throw new GroupError('NotGroupMember', 'this daemon is not a member of the group');
  const rotated = rotationReason(a.senderKey, view, now);
  const key = rotated === null ? a.senderKey! : createSenderKey(crypto, view, now, a.senderKey);
  if (a.input.messageId !== undefined && a.input.messageId.length !== MESSAGE_ID_BYTES) throw new RangeError('group send: message id must be 16 bytes');
  const draft = { senderSeq: key.nextSeq, sentAt: now, membershipVersion: view.version, contentType: a.input.contentType, body: a.input.body, messageId: new Uint8Array(MESSAGE_ID_BYTES) };
  checkGroupPlaintext(draft); // before any randomness is drawn for it
  const plaintext: GroupPlaintext = { ...draft, messageId: a.input.messageId?.slice() ?? crypto.randomBytes(MESSAGE_ID_BYTES) };
  const step = stepSenderKey(crypto, key);
  let message: Uint8Array;
  try {
    message = sealGroupMessage(crypto, {
      groupId: view.groupId,
      sender: userIdBytes(self),
      keyId: key.keyId,
      iteration: step.iteration,
      messageKey: step.messageKey,
      signingPrivateKey: key.signing.privateKey,
      plaintext: encodeGroupPlaintext(plaintext),
    });
  } finally {
    crypto.zero(step.messageKey);
  }
  const bundles = sealedContentBytes(message.length, true) <= MAX_BODY_BYTES;
  const outputs: MemberOutput[] = [];
  const deliveryChanges = new Map<UserId, MemberDelivery>();
  // the nonces of every copy in one draw (a copy may be needed for each member but this one)
  const nonces = crypto.randomBytes(GROUP_NONCE_BYTES * (view.members.length - 1));
  let copies = 0;
  const copy = (to: UserId): Uint8Array => {
    const at = GROUP_NONCE_BYTES * copies++;
    return wrapCopy(crypto, memberCopyKeys(crypto, key, to), message, nonces.subarray(at, at + GROUP_NONCE_BYTES));
  };
  for (const to of view.members) {
    if (to === self) continue;
    const d = deliveryOf(a.delivery, to);
    if (d.keyId === key.keyId) {
      outputs.push({ to, pairwise: [], copy: copy(to) });
      continue;
    }
    const distribution = distributionFor(crypto, key, step, to, plaintext.senderSeq, view);
    deliveryChanges.set(to, { ...d, keyId: key.keyId });
    if (bundles) {
      outputs.push({ to, pairwise: [{ kind: 'group-message', groupId: view.groupId, mode: 'sealed', distribution, message }], copy: null });
    } else {
      outputs.push({ to, pairwise: [{ kind: 'group-sender-key', distribution }], copy: copy(to) });
    }
  }
  return { senderKey: step.next, rotated, plaintext, message, outputs, deliveryChanges };
}

export interface KeyRequestAnswer {
  /** the sender key after the answer (rotated first when a rotation was due) */
  readonly senderKey: OwnSenderKey;
  /** the pairwise content for the requester: its key from the current step */
  readonly content: GroupContentInput;
  readonly deliveryChange: MemberDelivery;
  /** re-send (resendContents) what is outboxed for the requester above this seq */
  readonly resendAbove: number;
}

/**
 * The sender's answer to a member's key request: only for a member of its view (NotGroupMember), with
 * its key from the current step (rotated first when due, so an outdated key is never handed out).
 * Null when this member has no sender key yet (nothing to give: its next message brings one).
 */
export function answerKeyRequest(
  crypto: Crypto,
  a: { readonly self: UserId; readonly view: GroupView; readonly senderKey: OwnSenderKey | null; readonly delivery: GroupDelivery; readonly from: UserId; readonly haveUpToSeq: number; readonly now: number },
): KeyRequestAnswer | null {
  if (!a.view.memberSet.has(a.from) || a.from === a.self || !a.view.memberSet.has(a.self)) throw new GroupError('NotGroupMember', 'key request: not from a member');
  if (a.senderKey === null) return null;
  const key = rotationReason(a.senderKey, a.view, a.now) === null ? a.senderKey : createSenderKey(crypto, a.view, a.now, a.senderKey);
  const distribution = distributionFor(crypto, key, key, a.from, key.nextSeq, a.view);
  const d = deliveryOf(a.delivery, a.from);
  return { senderKey: key, content: { kind: 'group-sender-key', distribution }, deliveryChange: { ...d, keyId: key.keyId }, resendAbove: Math.max(a.haveUpToSeq, d.deliveredUpTo) };
}

/** Pairwise re-sends of outboxed messages (recovery): each as its plaintext, inside the session. */
export function resendContents(view: GroupView, messages: readonly GroupPlaintext[], above: number): GroupContentInput[] {
  return messages.filter((p) => p.senderSeq > above).map((plaintext) => ({ kind: 'group-message', groupId: view.groupId, mode: 'resent', plaintext }));
}
