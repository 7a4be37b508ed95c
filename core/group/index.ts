/**
 * The groups protocol core's facade: what the engine (phase 2) calls. Pure like the rest of core/:
 * no I/O; crypto, randomness and the clock passed in; every function returns next states and never
 * mutates its inputs; on a throw nothing changed. Decoders throw DecodeError only; refusals are
 * GroupError (errors.ts lists what the engine does with each code).
 *
 * Owner:     createMembership / changeMembership / dissolveMembership → ownView → send the version
 *            pairwise (content kind 5) to every member of it and to every member it removes.
 * Member:    applyMembership on each version from the owner; drop the chains, seq log and delivery
 *            records of every removed member; on selfRemoved drop the whole group.
 * Sending:   planGroupSend → store senderKey, deliveryChanges and the outbox entry in one batch →
 *            publish each output's copy and send its pairwise contents.
 * Receiving: a copy: decodeGroupEnvelope → tag index → receiveCopy; pairwise contents:
 *            decodeGroupContent → receiveSealed / receiveResent / acceptDistribution / applyMembership;
 *            then recordSeq in that sender's log → store chains + log (+ inbox entry) in one batch →
 *            deliver → later, a cumulative group receipt (content kind 8) to the sender.
 * Recovery:  UnknownSenderKey / TooFarAhead / a hole in the seq log that outlives its wait → hold the
 *            message, send a key request (kind 7); the sender answers with answerKeyRequest and
 *            resendContents.
 */
export { GroupError, isGroupError } from './errors.ts';
export type { GroupErrorCode } from './errors.ts';
export { GROUP_ID_TEXT_LENGTH, groupIdText, parseGroupId, userIdBytes, userIdFromBytes } from './ids.ts';
export { createMembership, changeMembership, dissolveMembership, verifyMembership, decodeMembership, MAX_MEMBERSHIP_BYTES } from './membership.ts';
export type { Membership, MembershipChange } from './membership.ts';
export { applyMembership, ownView, encodeGroupView, decodeGroupView } from './view.ts';
export type { GroupView, Applied } from './view.ts';
export { createSenderKey, rotateSenderKey, rotationReason, encodeOwnSenderKey, decodeOwnSenderKey } from './sender-key.ts';
export type { OwnSenderKey, RotationReason } from './sender-key.ts';
export { encodeDistribution, decodeDistribution, DISTRIBUTION_BYTES } from './distribution.ts';
export type { SenderKeyDistribution } from './distribution.ts';
export { MAX_GROUP_BODY_BYTES, encodeGroupPlaintext, decodeGroupPlaintext } from './plaintext.ts';
export type { GroupPlaintext } from './plaintext.ts';
export { planGroupSend, answerKeyRequest, resendContents } from './send.ts';
export type { GroupSendPlan, GroupSendInput, MemberOutput, KeyRequestAnswer } from './send.ts';
export { receiveCopy, receiveSealed, receiveResent } from './receive.ts';
export {
  acceptDistribution,
  decryptGroupMessage,
  expireSenderChains,
  senderRoutingTags,
  encodeSenderChains,
  decodeSenderChains,
} from './receiver-chain.ts';
export type { SenderChains, ReceiverChain, Decrypted } from './receiver-chain.ts';
export { decodeGroupEnvelope } from './copy.ts';
export { encodeGroupContent, decodeGroupContent, sealGroupContent, isSequencedGroupKind, isGroupContentKind } from './content.ts';
export type { GroupContent, GroupContentInput } from './content.ts';
export { startSeqLog, recordSeq, hasSeq, missingSeqs, encodeSeqLog, decodeSeqLog } from './seq-log.ts';
export type { SeqLog } from './seq-log.ts';
export { applyGroupReceipt, forgetDistribution, deliveryOf, encodeMemberDelivery, decodeMemberDelivery, NEW_MEMBER_DELIVERY } from './delivery.ts';
export type { GroupDelivery, MemberDelivery } from './delivery.ts';
