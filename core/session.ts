/**
 * The per-peer session record (Sesame-like): one active session used for
 * sending and up to MAX_ARCHIVED_SESSIONS archived ones that still decrypt late messages, plus the
 * transcript state (transcript.ts). Pure: every function returns a new record.
 *
 * Session ranking. Each session has an epoch chosen by its initiator (carried in the sealed-sender
 * block, so both sides know it): max(now, highest epoch known for this peer + 1). rank = (epoch, id)
 * compared lexicographically; both sides compute the same order. Hence
 *   - a session created after its creator saw another outranks it (causality);
 *   - simultaneous initiation: both sides compare the same two (epoch, id) pairs and keep the same
 *     winner, whatever the order of arrival (the tie-break can never be undone by a late message,
 *     because a loser never outranks the winner);
 *   - a delayed old handshake ranks low and goes straight to the archive.
 * Rules:
 *   - a new incoming session becomes active iff it outranks the active one (else it is archived);
 *   - a session we start (startSession) becomes active (it outranks everything known);
 *   - a message that decrypts under an archived session promotes it iff it outranks the active one,
 *     or the active one cannot send (never answered for UNACKNOWLEDGED_SESSION_MAX_AGE_MS, or
 *     exhausted) — never a session retired by a reset;
 *   - a 'reset' content (the peer could not use our active session, e.g. its one-time prekey was
 *     taken: StalePrekey) makes the session it arrived on active; the old active one and every
 *     unanswered session of ours are retired;
 *   - the first message that decrypts under an initiator session clears its pending handshake.
 *
 * Record encoding (versioned; round-trips byte for byte):
 *   version u8 (= 1) ‖ peerUserId (u16 length ‖ ASCII) ‖ peer identity key 32 ‖ maxEpoch u64
 *   ‖ peerBundleVersion u32 ‖ hasActive u8 ‖ [session] ‖ archivedCount u8 ‖ sessions ‖ transcript
 * session = id 16 ‖ epoch u64 ‖ role u8 (1 initiator, 2 responder) ‖ flags u8 (1 pending handshake,
 *   2 has lastReceivedAt, 4 retired, 8 the pending handshake is PQXDH) ‖ createdAt u64 ‖ [lastReceivedAt u64]
 *   ‖ replayId 16 ‖ [EK_A 32 ‖ sealed sender SEALED_SENDER_BYTES, or with flag 8: EK_A 32
 *   ‖ sealed sender PQ_SEALED_SENDER_BYTES ‖ PQ prekey id u32 ‖ KEM ciphertext 1088]
 *   ‖ ratchet state (u32 length ‖ ratchet-codec bytes)
 * Flag 8 is new with PQXDH: records written before it decode unchanged.
 */
import type { Crypto } from './crypto.ts';
import { DecodeError } from './errors.ts';
import { Reader, Writer } from './bytes.ts';
import { MAX_ARCHIVED_SESSIONS, UNACKNOWLEDGED_SESSION_MAX_AGE_MS } from './limits.ts';
import { RAW_KEY_BYTES, checkX25519PublicKey } from './keys.ts';
import { PQ_SEALED_SENDER_BYTES, SEALED_SENDER_BYTES } from './envelope.ts';
import { KEM_CIPHERTEXT_BYTES } from './prekeys.ts';
import { HANDSHAKE_ID_BYTES, REPLAY_ID_BYTES } from './x3dh.ts';
import { emptyTranscript, readTranscript, writeTranscript, type TranscriptState } from './transcript.ts';
import { canSend, decodeRatchetState, encodeRatchetState, expireSkippedKeys, hasReceivingRoutingTag, receivingRoutingTags, receivingRoutingTagViews, skippedKeyTotal, type RatchetState } from './ratchet.ts';
import { parseUserId, type UserId } from './user-id.ts';

export type SessionRole = 'initiator' | 'responder';

/** What the initiator attaches to each message until the first reply decrypts. */
export interface PendingHandshake {
  /** EK_A */
  readonly ephemeralKey: Uint8Array;
  /** The sealed-sender block, made once (envelope.ts). */
  readonly sealed: Uint8Array;
  /** PQXDH: the PQ prekey used and the ML-KEM ciphertext each handshake envelope carries; absent or null for X3DH. */
  readonly pq?: { readonly prekeyId: number; readonly ciphertext: Uint8Array } | null;
}

export interface Session {
  /** Handshake id (x3dh.ts), the same on both sides. */
  readonly id: Uint8Array;
  readonly epoch: number;
  readonly role: SessionRole;
  readonly ratchet: RatchetState;
  readonly pendingHandshake: PendingHandshake | null;
  /** replay id of this handshake. */
  readonly replayId: Uint8Array;
  readonly createdAt: number;
  readonly lastReceivedAt: number | null;
  /** Demoted by a reset: never promoted again. */
  readonly retired: boolean;
}

export interface PeerRecord {
  readonly peerUserId: UserId;
  /** Raw Ed25519 identity key the sessions were made with (trust decisions are the daemon's). */
  readonly peerIdentityKey: Uint8Array;
  /** Highest session epoch known for this peer (session ranking). */
  readonly maxEpoch: number;
  /** Highest bundle version seen from this peer (0: none): verifyBundle's lastSeenBundleVersion. */
  readonly peerBundleVersion: number;
  readonly active: Session | null;
  /** Most recently archived first; at most MAX_ARCHIVED_SESSIONS. */
  readonly archived: readonly Session[];
  readonly transcript: TranscriptState;
}

const PEER_RECORD_VERSION = 1;
const FLAG_PENDING = 1;
const FLAG_LAST_RECEIVED = 2;
const FLAG_RETIRED = 4;
const FLAG_PQ = 8;
/** Decoder bound for one stored ratchet state (2000 skipped keys fit many times over). */
const MAX_RATCHET_STATE_BYTES = 4 * 1024 * 1024;

const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const REDACTED = '[PeerRecord redacted]';

/**
 * A PeerRecord that prints as [PeerRecord redacted] (console.log, util.inspect, JSON). The hooks sit
 * on the prototype: records are rebuilt on every message, and defining them per object was costly.
 */
class RedactedPeerRecord implements PeerRecord {
  readonly peerUserId: UserId;
  readonly peerIdentityKey: Uint8Array;
  readonly maxEpoch: number;
  readonly peerBundleVersion: number;
  readonly active: Session | null;
  readonly archived: readonly Session[];
  readonly transcript: TranscriptState;

  constructor(f: PeerRecord) {
    this.peerUserId = f.peerUserId;
    this.peerIdentityKey = f.peerIdentityKey;
    this.maxEpoch = f.maxEpoch;
    this.peerBundleVersion = f.peerBundleVersion;
    this.active = f.active;
    this.archived = f.archived;
    this.transcript = f.transcript;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [INSPECT](): string {
    return REDACTED;
  }
}

export function peerRecord(fields: PeerRecord): PeerRecord {
  return new RedactedPeerRecord(fields);
}

export function newPeerRecord(peerUserId: UserId, peerIdentityKey: Uint8Array): PeerRecord {
  return peerRecord({
    peerUserId,
    peerIdentityKey: peerIdentityKey.slice(),
    maxEpoch: 0,
    peerBundleVersion: 0,
    active: null,
    archived: [],
    transcript: emptyTranscript(),
  });
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** rank(a) > rank(b), rank = (epoch, id). */
export function outranks(a: Session, b: Session): boolean {
  return a.epoch !== b.epoch ? a.epoch > b.epoch : compareBytes(a.id, b.id) > 0;
}

/** Whether a session may be used to send now. */
export function canSendOn(s: Session, now: number): boolean {
  if (s.retired || !canSend(s.ratchet)) return false;
  return s.pendingHandshake === null || now - s.createdAt < UNACKNOWLEDGED_SESSION_MAX_AGE_MS;
}

function archive(list: readonly Session[], s: Session | null): Session[] {
  return s === null ? [...list] : [s, ...list].slice(0, MAX_ARCHIVED_SESSIONS);
}

export type SessionSlot = { readonly where: 'active' } | { readonly where: 'archived'; readonly index: number };

export function findSession(peer: PeerRecord, id: Uint8Array): SessionSlot | null {
  if (peer.active !== null && compareBytes(peer.active.id, id) === 0) return { where: 'active' };
  const index = peer.archived.findIndex((s) => compareBytes(s.id, id) === 0);
  return index < 0 ? null : { where: 'archived', index };
}

export function sessionAt(peer: PeerRecord, slot: SessionSlot): Session {
  return slot.where === 'active' ? peer.active! : peer.archived[slot.index]!;
}

/** The slots whose receiving header keys give this routing tag, active first (tags are stored: no HMAC). */
export function slotsForTag(crypto: Crypto, peer: PeerRecord, tag: Uint8Array): SessionSlot[] {
  const slots: SessionSlot[] = [];
  if (peer.active !== null && hasReceivingRoutingTag(crypto, peer.active.ratchet, tag)) slots.push({ where: 'active' });
  for (let index = 0; index < peer.archived.length; index++) {
    if (hasReceivingRoutingTag(crypto, peer.archived[index]!.ratchet, tag)) slots.push({ where: 'archived', index });
  }
  return slots;
}

/**
 * Every routing tag that should lead to this peer (index them all). Read from the
 * ratchet states, which keep the tag of each header key: no HMAC (`crypto` is kept for the API).
 */
export function routingTags(_crypto: Crypto, peer: PeerRecord): Uint8Array[] {
  const sessions = peer.active === null ? peer.archived : [peer.active, ...peer.archived];
  return sessions.flatMap((s) => receivingRoutingTags(s.ratchet));
}

/** One session's routing tags as read-only views (receivingRoutingTagViews); routingTags copies. */
export function sessionRoutingTagViews(session: Session): readonly Uint8Array[] {
  return receivingRoutingTagViews(session.ratchet);
}

/** A session we initiated: it becomes active; the old active one is archived. */
export function installOwnSession(peer: PeerRecord, s: Session): PeerRecord {
  return peerRecord({ ...peer, active: s, archived: archive(peer.archived, peer.active), maxEpoch: Math.max(peer.maxEpoch, s.epoch) });
}

/** A session the peer initiated: active iff it outranks the active one, else archived. */
export function installPeerSession(peer: PeerRecord, s: Session): PeerRecord {
  const maxEpoch = Math.max(peer.maxEpoch, s.epoch);
  if (peer.active === null || outranks(s, peer.active)) {
    return peerRecord({ ...peer, active: s, archived: archive(peer.archived, peer.active), maxEpoch });
  }
  return peerRecord({ ...peer, archived: archive(peer.archived, s), maxEpoch });
}

/**
 * Stores a session after a message decrypted under it (clears its pending handshake, notes the time)
 * and applies promotion; `adopt` (a reset) forces it active and retires the old active one.
 */
export function afterReceive(peer: PeerRecord, slot: SessionSlot, ratchet: RatchetState, now: number, adopt: boolean): PeerRecord {
  if (adopt) peer = retireUnanswered(peer, slot);
  const old = sessionAt(peer, slot);
  const s: Session = { ...old, ratchet, pendingHandshake: null, lastReceivedAt: now };
  if (slot.where === 'active') return peerRecord({ ...peer, active: s });
  const active = peer.active;
  const promote = !s.retired && (active === null || adopt || outranks(s, active) || !canSendOn(active, now));
  if (!promote) return peerRecord({ ...peer, archived: peer.archived.map((x, i) => (i === slot.index ? s : x)) });
  const rest = peer.archived.filter((_, i) => i !== slot.index);
  const demoted = active === null ? null : { ...active, retired: active.retired || adopt };
  return peerRecord({ ...peer, active: s, archived: archive(rest, demoted) });
}

/**
 * The record without the skipped message keys that expired by `now` in any of its sessions (5 DH
 * steps or 30 days, skipped-keys.ts): what a periodic sweep applies to sessions that went quiet,
 * since encrypt/decrypt expire only the session they run on. The same object when nothing expired.
 */
export function expirePeerSkippedKeys(peer: PeerRecord, now: number): PeerRecord {
  const expire = (s: Session): Session => {
    const ratchet = expireSkippedKeys(s.ratchet, now);
    return ratchet === s.ratchet ? s : { ...s, ratchet };
  };
  const active = peer.active === null ? null : expire(peer.active);
  let archivedChanged = false;
  const archived = peer.archived.map((s) => {
    const e = expire(s);
    if (e !== s) archivedChanged = true;
    return e;
  });
  if (active === peer.active && !archivedChanged) return peer;
  return peerRecord({ ...peer, active, archived: archivedChanged ? archived : peer.archived });
}

/** Skipped message keys held by all sessions of the record. */
export function peerSkippedKeyCount(peer: PeerRecord): number {
  let n = peer.active === null ? 0 : skippedKeyTotal(peer.active.ratchet);
  for (const s of peer.archived) n += skippedKeyTotal(s.ratchet);
  return n;
}

/** A reset tells us the peer could not use our unanswered handshakes: retire them (never promoted again). */
function retireUnanswered(peer: PeerRecord, keep: SessionSlot): PeerRecord {
  const archived = peer.archived.map((x, i) =>
    x.pendingHandshake !== null && !(keep.where === 'archived' && keep.index === i) ? { ...x, retired: true } : x,
  );
  return peerRecord({ ...peer, archived });
}

/** One session in the record encoding (the daemon's split store layout writes sessions on their own too). */
export function writeSession(w: Writer, s: Session): void {
  const flags = (s.pendingHandshake !== null ? FLAG_PENDING : 0) | (s.lastReceivedAt !== null ? FLAG_LAST_RECEIVED : 0) | (s.retired ? FLAG_RETIRED : 0);
  const pq = s.pendingHandshake?.pq ?? null;
  w.fixed(s.id).u64(s.epoch).u8(s.role === 'initiator' ? 1 : 2).u8(flags | (pq !== null ? FLAG_PQ : 0)).u64(s.createdAt);
  if (s.lastReceivedAt !== null) w.u64(s.lastReceivedAt);
  w.fixed(s.replayId);
  if (s.pendingHandshake !== null) w.fixed(s.pendingHandshake.ephemeralKey).fixed(s.pendingHandshake.sealed);
  if (pq !== null) w.u32(pq.prekeyId).fixed(pq.ciphertext);
  w.bytes32(encodeRatchetState(s.ratchet));
}

export function readSession(r: Reader): Session {
  const id = r.fixed(HANDSHAKE_ID_BYTES);
  const epoch = r.u64();
  const roleByte = r.u8();
  if (roleByte !== 1 && roleByte !== 2) throw new DecodeError('peer record: bad session role');
  const flags = r.u8();
  if ((flags & ~(FLAG_PENDING | FLAG_LAST_RECEIVED | FLAG_RETIRED | FLAG_PQ)) !== 0) throw new DecodeError('peer record: bad session flags');
  if ((flags & FLAG_PQ) !== 0 && (flags & FLAG_PENDING) === 0) throw new DecodeError('peer record: PQ flag without a pending handshake');
  const role: SessionRole = roleByte === 1 ? 'initiator' : 'responder';
  if (role === 'responder' && (flags & FLAG_PENDING) !== 0) throw new DecodeError('peer record: responder with a pending handshake');
  const createdAt = r.u64();
  const lastReceivedAt = (flags & FLAG_LAST_RECEIVED) !== 0 ? r.u64() : null;
  const replayId = r.fixed(REPLAY_ID_BYTES);
  let pendingHandshake: PendingHandshake | null = null;
  if ((flags & FLAG_PENDING) !== 0) {
    const ephemeralKey = checkX25519PublicKey(r.fixed(RAW_KEY_BYTES));
    if ((flags & FLAG_PQ) !== 0) {
      const sealed = r.fixed(PQ_SEALED_SENDER_BYTES);
      const prekeyId = r.u32();
      pendingHandshake = { ephemeralKey, sealed, pq: { prekeyId, ciphertext: r.fixed(KEM_CIPHERTEXT_BYTES) } };
    } else {
      pendingHandshake = { ephemeralKey, sealed: r.fixed(SEALED_SENDER_BYTES) };
    }
  }
  const ratchet = decodeRatchetState(r.view32(MAX_RATCHET_STATE_BYTES)); // decodeRatchetState copies every field
  return { id, epoch, role, ratchet, pendingHandshake, replayId, createdAt, lastReceivedAt, retired: (flags & FLAG_RETIRED) !== 0 };
}

export function encodePeerRecord(peer: PeerRecord): Uint8Array {
  const w = new Writer()
    .u8(PEER_RECORD_VERSION)
    .string16(peer.peerUserId)
    .fixed(peer.peerIdentityKey)
    .u64(peer.maxEpoch)
    .u32(peer.peerBundleVersion)
    .bool(peer.active !== null);
  if (peer.active !== null) writeSession(w, peer.active);
  w.u8(peer.archived.length);
  for (const s of peer.archived) writeSession(w, s);
  writeTranscript(w, peer.transcript);
  return w.finish();
}

export function decodePeerRecord(bytes: Uint8Array): PeerRecord {
  const r = new Reader(bytes, 'peer record');
  if (r.u8() !== PEER_RECORD_VERSION) throw new DecodeError('peer record: unsupported version', 'UnsupportedVersion');
  const peerUserId = parseUserId(r.string16(64));
  const peerIdentityKey = r.fixed(RAW_KEY_BYTES);
  const maxEpoch = r.u64();
  const peerBundleVersion = r.u32();
  const active = r.bool() ? readSession(r) : null;
  const archivedCount = r.u8();
  if (archivedCount > MAX_ARCHIVED_SESSIONS) throw new DecodeError('peer record: too many archived sessions');
  const archived: Session[] = [];
  for (let i = 0; i < archivedCount; i++) archived.push(readSession(r));
  const transcript = readTranscript(r);
  r.end();
  return peerRecord({ peerUserId, peerIdentityKey, maxEpoch, peerBundleVersion, active, archived, transcript });
}
