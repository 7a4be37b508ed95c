/**
 * Record kinds of the daemon's store and how their keys are laid out on disk.
 *
 * Physical key = `${prefix}!${k}` where k is either the logical key itself (kinds whose keys carry no
 * private information and must iterate in order: zero-padded counters, fixed names) or a keyed blind
 * of it, hex(HMAC(blindKey, prefix ‖ 0x00 ‖ key)[0..20]) — so the data dir does not reveal who the
 * contacts are, which routing tags or replay ids exist, or which idempotency keys a bot used.
 * Blinded kinds support point lookups and unordered full scans only.
 */

export interface RecordKindSpec {
  /** Distinct, without '!' (the separator). */
  readonly prefix: string;
  /** Whether the logical key is replaced by a keyed hash in the physical key. */
  readonly blinded: boolean;
}

export const RECORD_KINDS = {
  /** Schema version and counters (`schema`, `counters`). */
  meta: { prefix: 'meta', blinded: false },
  /** The local identity key pair (`self`). */
  identity: { prefix: 'ident', blinded: false },
  /** Signed and one-time prekeys, private halves (`self`). */
  prekeys: { prefix: 'prekeys', blinded: false },
  /**
   * Per-peer protocol record, key = peer user id: since schema v2 its head (active session, transcript,
   * what the parts below hold); engine/peer-layout.ts.
   */
  peer: { prefix: 'peer', blinded: true },
  /** An archived session of a peer, key = `P!no` (P: the random parts id in the peer's head). */
  peerSession: { prefix: 'psess', blinded: false },
  /** A block of up to 64 skipped message keys of one chain of a peer's session, key = `P!no!chain!block`. */
  peerSkipped: { prefix: 'pskip', blinded: false },
  /** A held-back message of a peer's transcript (waiting for a hole), key = `P!seq` (zero-padded). */
  peerHeld: { prefix: 'pheld', blinded: false },
  /** Per-peer trust record (identity key, trust state, last seen bundle version), key = user id. */
  contact: { prefix: 'contact', blinded: true },
  /** Routing tag (hex) → peer user id: finds the session of an envelope in one lookup. */
  routingTag: { prefix: 'tag', blinded: true },
  /** Handshake replay id (hex) → signed prekey id it was accepted under. */
  replay: { prefix: 'replay', blinded: true },
  /** Peers pinned to post-quantum (PQXDH): a later bundle without PQ prekeys is refused (engine/pq-pins.ts), key = user id. */
  pqPin: { prefix: 'pqpin', blinded: true },
  /** Decrypted inbound messages until the local client acks them, key = zero-padded cursor. */
  inbox: { prefix: 'inbox', blinded: false },
  /** Inbound message id (hex) → inbox cursor. No longer written (the inbox keeps it in memory); deleted at start. */
  inboxById: { prefix: 'inboxid', blinded: true },
  /** Outbound envelopes until an encrypted delivery receipt arrives, key = zero-padded sequence. */
  outbox: { prefix: 'outbox', blinded: false },
  /** Idempotency key → message id, so a retried Send sends once. */
  idempotency: { prefix: 'idem', blinded: true },
  /** Zero-padded sequence → the idempotency key written then (oldest first, for retention). */
  idemOrder: { prefix: 'idemord', blinded: false },
  /** `cursor:n` (zero-padded inbox cursor) → the n-th reply idempotency record for that inbound message, until it is acked. */
  replyIdem: { prefix: 'replyidem', blinded: false },
  /** Envelopes held back from a contact whose identity changed, key = zero-padded sequence. */
  quarantine: { prefix: 'quar', blinded: false },
  /** Inbox messages the webhook gave up on (dead letters), key = zero-padded inbox cursor. */
  deadLetter: { prefix: 'deadltr', blinded: false },
  /** Files being sent (daemon/engine/files/), key = file id (hex): descriptor, recipient, chunks acknowledged. */
  fileOut: { prefix: 'fileout', blinded: true },
  /** Files being received or received and not yet acked, key = file id (hex): descriptor, sender, chunks stored. */
  fileIn: { prefix: 'filein', blinded: true },
  // ---- groups (daemon/engine/groups/) ----
  /** Group id (text) → this daemon's view of the group: the last membership version applied. */
  groupView: { prefix: 'gview', blinded: true },
  /** Group id (text) → a group this daemon left or was removed from (sends to it are refused). */
  groupLeft: { prefix: 'gleft', blinded: true },
  /** Group id (text) → this daemon's own sender key in that group (secret). */
  groupOwnKey: { prefix: 'gkey', blinded: true },
  /** `groupId:sender` → the receiving chains of that sender's keys (secret). */
  groupChains: { prefix: 'gchain', blinded: true },
  /** `groupId:sender` → the senderSeqs received from that sender (exactly once, receipts). */
  groupSeqLog: { prefix: 'gseq', blinded: true },
  /** `groupId:member` → which of our sender keys that member holds and what it receipted. */
  groupDelivery: { prefix: 'gdeliv', blinded: true },
  /** Zero-padded sequence → an own group message until every member it was addressed to receipted it. */
  groupOutbox: { prefix: 'goutbox', blinded: false },
  /** Zero-padded sequence → a group content to hand to a member's pairwise session (the outbox's way in). */
  groupPairwise: { prefix: 'gpair', blinded: false },
  /** Zero-padded sequence → a group copy or pairwise group content that cannot be read yet (held, retried). */
  groupHeld: { prefix: 'gheld', blinded: false },
} as const satisfies Record<string, RecordKindSpec>;

export type RecordKind = keyof typeof RECORD_KINDS;

export function isRecordKind(k: unknown): k is RecordKind {
  return typeof k === 'string' && Object.prototype.hasOwnProperty.call(RECORD_KINDS, k);
}

export const KEY_SEPARATOR = '!';
/** The character after '!' in code-point order: `${prefix}"` is the exclusive end of a kind's range. */
const KEY_RANGE_END = '"';

export function kindRange(kind: RecordKind): { gt: string; lt: string } {
  const { prefix } = RECORD_KINDS[kind];
  return { gt: prefix + KEY_SEPARATOR, lt: prefix + KEY_RANGE_END };
}

/** Digits of a zero-padded counter key: 16 digits order correctly for every safe integer below 10^16. */
export const COUNTER_DIGITS = 16;

export function counterKey(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('counterKey: not a non-negative safe integer');
  return n.toString().padStart(COUNTER_DIGITS, '0');
}

export function parseCounterKey(key: string): number {
  if (!/^\d{16}$/.test(key)) throw new RangeError('parseCounterKey: not a counter key');
  return Number(key);
}
