/**
 * The protocol core's facade: everything the daemon calls. All pure (no I/O, clock and randomness
 * passed in); every function returns next states and never mutates its inputs; on a throw nothing
 * changed. Errors are RatchetError subclasses with a `code` (errors.ts).
 *
 * Sending:   verifyBundle → startSession (when encryptForPeer throws NoSession) → encryptForPeer
 *            → store `next` (+ outbox `content`) → publish `envelope`.
 * Receiving: decodeEnvelope →
 *            handshake: unsealSender → (load peer record of senderUserId) → acceptHandshake
 *                       → store next, nextPrekeys, replayId in one batch → deliver `deliver`;
 *            session:   look the tag up in the index built from routingTags(peer) → decryptFromPeer
 *                       → store next → deliver `deliver`; then re-index routingTags(next).
 *            A 'reset' content means "re-send what I have not acknowledged" (the session it came on is
 *            now active); a 'receipt' acknowledges every message up to upToSeq.
 * Timers:    maintainPrekeys (+ buildBundle when changed), flushTranscript.
 */
import type { Crypto } from './crypto.ts';
import { unsealSender as unsealEnvelope, type HandshakeEnvelope } from './envelope.ts';
import type { LocalIdentity } from './identity.ts';
import type { HandshakeSender } from './conversation.ts';
import { receiptSeq } from './transcript.ts';
import { canSendOn, type PeerRecord } from './session.ts';

export type { Crypto, KeyPair } from './crypto.ts';
export type { UserId } from './user-id.ts';
export { deriveUserId, parseUserId, isUserId } from './user-id.ts';
export { RatchetError, DecodeError, DecryptError, HandshakeError, TrustError, isRatchetError } from './errors.ts';
export type { ErrorCode } from './errors.ts';
export { TranscriptError } from './transcript.ts';

// identity and trust
export { createIdentity, encodeIdentity, decodeIdentity, encodedIdentityKey } from './identity.ts';
export type { LocalIdentity } from './identity.ts';
export { safetyNumber, formatSafetyNumber, normalizeSafetyNumber } from './safety-number.ts';
export type { SafetyNumberParty } from './safety-number.ts';

// prekeys (private state of the owner) and the published bundle
export {
  createPrekeyState,
  maintainPrekeys,
  oneTimePrekeyCount,
  pqOneTimePrekeyCount,
  encodePrekeyState,
  decodePrekeyState,
} from './prekeys.ts';
export type { PrekeyState, PrekeyMaintenance } from './prekeys.ts';
export { buildBundle, verifyBundle, bundleClaimedUserId } from './bundle.ts';
export type { VerifiedBundle, BundlePqPrekeys } from './bundle.ts';

// envelopes
export { decodeEnvelope } from './envelope.ts';
export type { Envelope, SessionEnvelope, HandshakeEnvelope } from './envelope.ts';

// sessions
export { checkBundleNotDowngraded, startSession, encryptForPeer, resendToPeer, acceptHandshake, decryptFromPeer, flushTranscript } from './conversation.ts';
export type { HandshakeSender, ReceiveResult, AcceptHandshakeResult } from './conversation.ts';
export { routingTags, sessionRoutingTagViews, encodePeerRecord, decodePeerRecord, newPeerRecord, expirePeerSkippedKeys, peerSkippedKeyCount } from './session.ts';
export type { PeerRecord, Session } from './session.ts';

// content and transcript
export type { Content, ContentInput, MessageContent, ReceiptContent, ResetContent } from './content.ts';
export { MAX_MESSAGE_BODY_BYTES, MESSAGE_ID_BYTES, encodeContent, decodeContent } from './content.ts';
export type { SeqRange } from './transcript.ts';

/** Opens the sealed-sender block of a handshake envelope (a claim until acceptHandshake decrypts). */
export function unsealSender(crypto: Crypto, own: LocalIdentity, env: HandshakeEnvelope): HandshakeSender {
  const s = unsealEnvelope(crypto, own, env);
  return {
    senderIdentityKey: s.identityKey,
    senderUserId: s.userId,
    signedPrekeyId: s.signedPrekeyId,
    oneTimePrekeyId: s.oneTimePrekeyId,
    bundleVersion: s.bundleVersion,
    epoch: s.epoch,
    pqPrekeyId: s.pqPrekeyId ?? null,
  };
}

/** verifyBundle's lastSeenBundleVersion for this peer (undefined when none was seen). */
export function lastSeenBundleVersion(peer: PeerRecord | null): number | undefined {
  return peer === null || peer.peerBundleVersion === 0 ? undefined : peer.peerBundleVersion;
}

/** Whether encryptForPeer would find a usable session now (else fetch a bundle and startSession first). */
export function hasUsableSession(peer: PeerRecord | null, now: number): boolean {
  return peer !== null && peer.active !== null && canSendOn(peer.active, now);
}

/**
 * The cumulative receipt to send: every message up to this seq was delivered (no holes below it, except
 * holes given up after TRANSCRIPT_GAP_MAX_AGE_MS).
 */
export function receiptUpTo(peer: PeerRecord, now: number): number {
  return receiptSeq(peer.transcript, now);
}
