/**
 * The operations a daemon runs on a peer record: start a session from a
 * verified bundle, encrypt, accept a handshake, decrypt a session envelope. All pure: each returns the
 * next records; on any throw nothing changed (inputs are never mutated), so the caller simply does not
 * store anything. Session selection rules: session.ts. Transcript rules: transcript.ts.
 */
import type { Crypto } from './crypto.ts';
import { DecryptError, HandshakeError, RatchetError, TrustError } from './errors.ts';
import { MAX_EPOCH, sealSender, type HandshakeEnvelope, type SessionEnvelope } from './envelope.ts';
import { encodeEnvelope } from './envelope.ts';
import type { LocalIdentity } from './identity.ts';
import type { VerifiedBundle } from './bundle.ts';
import { consumeOneTimePrekey, consumePqPrekey, type PrekeyState } from './prekeys.ts';
import { deriveHandshakeId, x3dhInitiate, x3dhRespond, type InitiatorResult, type X3dhSecrets } from './x3dh.ts';
import { pqxdhInitiate, pqxdhRespond, type PqInitiatorResult } from './pqxdh.ts';
import { DecodeError } from './errors.ts';
import { decodeContent, encodeContent, type Content, type ContentInput } from './content.ts';
import { acceptInOrder, nextOutgoing, rebaseReceive, releaseStalled, type SeqRange } from './transcript.ts';
import { initInitiator, initResponder, ratchetDecrypt, ratchetEncrypt, type RatchetState } from './ratchet.ts';
import {
  afterReceive,
  canSendOn,
  findSession,
  installOwnSession,
  installPeerSession,
  newPeerRecord,
  peerRecord,
  sessionAt,
  slotsForTag,
  type PeerRecord,
  type Session,
  type SessionSlot,
} from './session.ts';
import type { UserId } from './user-id.ts';

/** The sealed-sender claim of a handshake envelope (facade names; see envelope.ts unsealSender). */
export interface HandshakeSender {
  readonly senderIdentityKey: Uint8Array;
  readonly senderUserId: UserId;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId: number | null;
  readonly bundleVersion: number;
  readonly epoch: number;
  /** The PQ prekey of a PQXDH handshake; null (or absent) for X3DH. */
  readonly pqPrekeyId?: number | null;
}

export interface ReceiveResult {
  /** What this envelope carried. */
  readonly content: Content;
  /** Contents now deliverable, in transcript order (may be empty, or include earlier held-back ones). */
  readonly deliver: readonly Content[];
  /** The content was a copy of one already delivered or held back (a retransmission): deliver nothing. */
  readonly duplicate: boolean;
  /** Holes declared by this call (messages the relay dropped or withholds). */
  readonly gaps: readonly SeqRange[];
  readonly brokenLinks: readonly number[];
  /** Id of the session the message decrypted under. */
  readonly sessionId: Uint8Array;
  readonly next: PeerRecord;
}

export interface AcceptHandshakeResult extends ReceiveResult {
  readonly nextPrekeys: PrekeyState;
  /** Record it in the replay cache with `next` and `nextPrekeys`, in one batch. */
  readonly replayId: Uint8Array;
  /** The replay cache entry lives until this signed prekey is deleted (maintainPrekeys reports it). */
  readonly signedPrekeyId: number;
}

function zeroSecrets(crypto: Crypto, s: X3dhSecrets): void {
  crypto.zero(s.sharedSecret);
  crypto.zero(s.sharedHeaderKeyA);
  crypto.zero(s.sharedNextHeaderKeyB);
}

function checkTrust(peer: PeerRecord | null, userId: UserId, identityKey: Uint8Array, crypto: Crypto): void {
  if (peer === null) return;
  if (peer.peerUserId !== userId) throw new TrustError('UntrustedIdentity', 'peer record belongs to another user');
  if (!crypto.equal(peer.peerIdentityKey, identityKey)) {
    throw new TrustError('UntrustedIdentity', 'identity key differs from the stored one: approval required');
  }
}

/**
 * The no-downgrade rule on the initiator's side: a peer once seen with PQ prekeys (`pqPinned`, kept
 * by the daemon) must publish them in every later bundle. DowngradedBundle otherwise.
 */
export function checkBundleNotDowngraded(bundle: VerifiedBundle, pqPinned: boolean): void {
  if (pqPinned && bundle.pq === null) {
    throw new HandshakeError('DowngradedBundle', 'bundle: this peer published PQ prekeys before and this bundle has none (downgrade refused)');
  }
}

/**
 * PQXDH (bundle with PQ prekeys) or X3DH (a format-1 bundle, from a daemon of the previous version)
 * as initiator: a new session that becomes active (the previous one is archived). Its handshake is
 * attached to every message until the first reply decrypts. `requirePq` (the peer is pinned to PQ)
 * refuses a bundle without PQ prekeys: DowngradedBundle.
 */
export function startSession(
  crypto: Crypto,
  own: LocalIdentity,
  peer: PeerRecord | null,
  bundle: VerifiedBundle,
  now: number,
  options: { useOneTimePrekey?: boolean; requirePq?: boolean } = {},
): PeerRecord {
  if (bundle.userId === own.userId) throw new HandshakeError('WrongRecipient', 'cannot start a session with oneself');
  checkBundleNotDowngraded(bundle, options.requirePq === true);
  checkTrust(peer, bundle.userId, bundle.identityKey, crypto);
  const base = peer ?? newPeerRecord(bundle.userId, bundle.identityKey);
  const epoch = Math.min(Math.max(now, base.maxEpoch + 1), MAX_EPOCH);
  let x: InitiatorResult;
  let pq: { prekeyId: number; ciphertext: Uint8Array } | null = null;
  if (bundle.pq !== null) {
    const p: PqInitiatorResult = pqxdhInitiate(crypto, own, bundle, options);
    pq = { prekeyId: p.pqPrekeyId, ciphertext: p.kemCiphertext };
    x = p;
  } else {
    x = x3dhInitiate(crypto, own, bundle, options);
  }
  try {
    const sealed = sealSender(crypto, x.sealKey, x.ephemeralKey, bundle.identityKey, {
      identityKey: own.keyPair.publicKey,
      signedPrekeyId: x.signedPrekeyId,
      oneTimePrekeyId: x.oneTimePrekeyId,
      bundleVersion: bundle.bundleVersion,
      epoch,
      pqPrekeyId: pq?.prekeyId ?? null,
    });
    const session: Session = {
      id: x.handshakeId,
      epoch,
      role: 'initiator',
      ratchet: initInitiator(crypto, x.secrets, x.responderSignedPrekey, now),
      pendingHandshake: { ephemeralKey: x.ephemeralKey, sealed, pq },
      replayId: x.replayId,
      createdAt: now,
      lastReceivedAt: null,
      retired: false,
    };
    const next = installOwnSession(base, session);
    return peerRecord({ ...next, peerBundleVersion: Math.max(next.peerBundleVersion, bundle.bundleVersion) });
  } finally {
    crypto.zero(x.sealKey);
    zeroSecrets(crypto, x.secrets);
  }
}

/** Encrypts an encoded content (encodeContent) on the active session. */
function encryptContent(crypto: Crypto, peer: PeerRecord, encoded: Uint8Array, now: number): { envelope: Uint8Array; active: Session } {
  const active = peer.active;
  if (active === null || !canSendOn(active, now)) {
    throw new RatchetError('NoSession', 'no usable session with this peer: fetch a fresh bundle');
  }
  let sent: ReturnType<typeof ratchetEncrypt>;
  try {
    sent = ratchetEncrypt(crypto, active.ratchet, encoded, now);
  } catch (e) {
    if (e instanceof RatchetError && e.code === 'SessionExhausted') throw new RatchetError('NoSession', 'session exhausted: fetch a fresh bundle', { cause: e });
    throw e;
  }
  const p = active.pendingHandshake;
  const envelope =
    p === null
      ? encodeEnvelope({ kind: 'session', tag: sent.routingTag, message: sent.message })
      : encodeEnvelope({
          kind: 'handshake',
          ephemeralKey: p.ephemeralKey as HandshakeEnvelope['ephemeralKey'],
          sealed: p.sealed,
          kemCiphertext: p.pq?.ciphertext ?? null,
          message: sent.message,
        });
  crypto.zero(sent.headerKey);
  return { envelope, active: { ...active, ratchet: sent.next } };
}

/**
 * Encrypts new content on the active session (store `next` before sending). Messages
 * get the next transcript seq; keep the returned `content` in the outbox for retransmission.
 * Throws RatchetError 'NoSession' when there is no usable session (none; never answered for 30 days;
 * exhausted): fetch a fresh bundle and startSession.
 */
export function encryptForPeer(
  crypto: Crypto,
  _own: LocalIdentity,
  peer: PeerRecord,
  input: ContentInput,
  now: number,
): { envelope: Uint8Array; next: PeerRecord; content: Content } {
  const { content, encoded, next: transcript } = nextOutgoing(crypto, peer.transcript, input, now);
  const { envelope, active } = encryptContent(crypto, peer, encoded, now);
  return { envelope, content, next: peerRecord({ ...peer, active, transcript }) };
}

/** Re-encrypts an already sequenced content (same id, seq, prevHash) on the active session; the receiver drops copies. */
export function resendToPeer(
  crypto: Crypto,
  _own: LocalIdentity,
  peer: PeerRecord,
  content: Content,
  now: number,
): { envelope: Uint8Array; next: PeerRecord } {
  const { envelope, active } = encryptContent(crypto, peer, encodeContent(content), now);
  return { envelope, next: peerRecord({ ...peer, active }) };
}

/**
 * Runs the transcript and the session rules after a successful decrypt. `opened`: this envelope
 * created the session (its handshake was accepted just now). Only such a reset may rebase the
 * transcript (transcript.ts rebaseReceive): a restored peer sends it first on its fresh session, and
 * a reset that arrives after other messages of its session (delayed) must not move the transcript back.
 */
function received(
  crypto: Crypto,
  peer: PeerRecord,
  slot: SessionSlot,
  ratchet: RatchetState,
  plaintext: Uint8Array,
  now: number,
  opened = false,
): ReceiveResult {
  const content = decodeContent(plaintext);
  const sessionId = sessionAt(peer, slot).id;
  const withSession = afterReceive(peer, slot, ratchet, now, content.kind === 'reset');
  const rebase = opened && content.kind === 'reset' && content.rebase !== undefined ? rebaseReceive(crypto, withSession.transcript, content.rebase, now) : undefined;
  const t = acceptInOrder(crypto, rebase?.next ?? withSession.transcript, content, now, plaintext);
  return {
    content,
    deliver: rebase === undefined ? t.deliver : [...rebase.deliver, ...t.deliver],
    duplicate: t.duplicate,
    gaps: rebase === undefined ? t.gaps : [...rebase.gaps, ...t.gaps],
    brokenLinks: t.brokenLinks,
    sessionId,
    next: peerRecord({ ...withSession, transcript: t.next }),
  };
}

/**
 * The responder's transaction: trust check → an existing session for the same
 * handshake takes the message (idempotent: a replayed copy is a Duplicate) → no downgrade (an X3DH
 * handshake naming a bundle version that carried PQ prekeys: DowngradedHandshake) → signed,
 * one-time and PQ prekeys, else StalePrekey → SK (PQXDH: with the decapsulated secret) →
 * ReplayedHandshake if `isReplay(replayId)` → decrypt → only on success: the new session (ranked,
 * session.ts), the one-time prekey and one-time PQ prekey consumed. A KEM ciphertext that
 * decapsulates to another secret fails at that decrypt (BadMessage), with nothing changed. The
 * caller stores `next`, `nextPrekeys` and `replayId` in ONE batch.
 *
 * Daemons of the previous version can read only format-1 bundles and make only X3DH handshakes.
 * Their sessions made before the upgrade go on; an X3DH handshake naming a bundle built before the
 * first PQ bundle is still accepted while its signed prekey lives (rotation and grace), so a
 * handshake in flight at the upgrade is not lost; every new session after that is PQXDH.
 */
export function acceptHandshake(
  crypto: Crypto,
  own: LocalIdentity,
  prekeys: PrekeyState,
  peer: PeerRecord | null,
  env: HandshakeEnvelope,
  sender: HandshakeSender,
  now: number,
  isReplay: (replayId: Uint8Array) => boolean,
): AcceptHandshakeResult {
  if (sender.senderUserId === own.userId) throw new HandshakeError('WrongRecipient', 'handshake from our own identity');
  checkTrust(peer, sender.senderUserId, sender.senderIdentityKey, crypto);
  const kemCiphertext = env.kemCiphertext ?? null;
  const pqPrekeyId = sender.pqPrekeyId ?? null;
  if ((kemCiphertext === null) !== (pqPrekeyId === null)) throw new DecodeError('handshake: KEM ciphertext and PQ prekey id must come together');
  const params = { signedPrekeyId: sender.signedPrekeyId, oneTimePrekeyId: sender.oneTimePrekeyId, pqPrekeyId };
  const id = deriveHandshakeId(crypto, sender.senderIdentityKey, own.keyPair.publicKey, env.ephemeralKey, params);
  const existing = peer === null ? null : findSession(peer, id);
  if (peer !== null && existing !== null) {
    const session = sessionAt(peer, existing);
    const { plaintext, next } = ratchetDecrypt(crypto, session.ratchet, env.message, now);
    const r = received(crypto, peer, existing, next, plaintext, now);
    return { ...r, nextPrekeys: prekeys, replayId: session.replayId, signedPrekeyId: sender.signedPrekeyId };
  }
  if (kemCiphertext === null && prekeys.pqSinceBundleVersion !== 0 && sender.bundleVersion >= prekeys.pqSinceBundleVersion) {
    throw new HandshakeError('DowngradedHandshake', 'handshake: X3DH to a bundle that offered PQ prekeys (downgrade refused)');
  }
  const claim = { identityKey: sender.senderIdentityKey, userId: sender.senderUserId };
  const x =
    kemCiphertext === null || pqPrekeyId === null
      ? x3dhRespond(crypto, own, prekeys, claim, env.ephemeralKey, params)
      : pqxdhRespond(crypto, own, prekeys, claim, env.ephemeralKey, kemCiphertext, { ...params, pqPrekeyId });
  let ratchet: RatchetState;
  let plaintext: Uint8Array;
  try {
    if (isReplay(x.replayId)) throw new HandshakeError('ReplayedHandshake', 'handshake already used (replay)');
    const initial = initResponder(crypto, x.secrets, x.signedPrekeyPair, now);
    ({ plaintext, next: ratchet } = ratchetDecrypt(crypto, initial, env.message, now));
  } finally {
    zeroSecrets(crypto, x.secrets);
  }
  const session: Session = {
    id,
    epoch: sender.epoch,
    role: 'responder',
    ratchet,
    pendingHandshake: null,
    replayId: x.replayId,
    createdAt: now,
    lastReceivedAt: now,
    retired: false,
  };
  const installed = installPeerSession(peer ?? newPeerRecord(sender.senderUserId, sender.senderIdentityKey), session);
  const slot = findSession(installed, id)!;
  const r = received(crypto, installed, slot, ratchet, plaintext, now, true);
  const nextPrekeys = sender.oneTimePrekeyId === null ? prekeys : consumeOneTimePrekey(prekeys, sender.oneTimePrekeyId);
  // PQXDH: the one-time PQ prekey is consumed too (a last-resort one stays: consumePqPrekey).
  return { ...r, nextPrekeys: pqPrekeyId === null ? nextPrekeys : consumePqPrekey(nextPrekeys, pqPrekeyId), replayId: x.replayId, signedPrekeyId: sender.signedPrekeyId };
}

/**
 * Decrypts a session envelope: tries the active session, then archived ones, among those whose
 * receiving header keys match the routing tag. A message that decrypts under an archived session may
 * promote it (session.ts). Throws DecryptError 'NoSession' when no session matches the tag; else the
 * most telling failure (Duplicate / TooFarAhead / … before BadMessage).
 */
export function decryptFromPeer(crypto: Crypto, peer: PeerRecord, env: SessionEnvelope, now: number): ReceiveResult {
  let failure: unknown = null;
  for (const slot of slotsForTag(crypto, peer, env.tag)) {
    try {
      const { plaintext, next } = ratchetDecrypt(crypto, sessionAt(peer, slot).ratchet, env.message, now, env.tag);
      return received(crypto, peer, slot, next, plaintext, now);
    } catch (e) {
      const isBad = e instanceof RatchetError && e.code === 'BadMessage';
      if (failure === null || (!isBad && failure instanceof RatchetError && failure.code === 'BadMessage')) failure = e;
      if (!isBad) break;
    }
  }
  throw failure ?? new DecryptError('NoSession', 'no session of this peer matches the routing tag');
}

/** Releases held-back messages whose hole waited too long (call on a timer). */
export function flushTranscript(
  crypto: Crypto,
  peer: PeerRecord,
  now: number,
  maxWaitMs?: number,
): { deliver: readonly Content[]; gaps: readonly SeqRange[]; next: PeerRecord } {
  const r = releaseStalled(crypto, peer.transcript, now, maxWaitMs);
  return { deliver: r.deliver, gaps: r.gaps, next: r.next === peer.transcript ? peer : peerRecord({ ...peer, transcript: r.next }) };
}
