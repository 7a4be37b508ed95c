/**
 * The engine's own stored records (the protocol core encodes identity, prekeys and peer records).
 * Each encoding starts with a version byte; decoders throw DecodeError only, and the store layer
 * turns an undecodable record into CorruptRecord for that record.
 *
 *   contact      key userId   trust state, approved identity key, pending (changed) key, bundle
 *                             version, last activity (v2)
 *   inbox        key cursor   a decrypted message until the local client acks it (v2: whether its
 *                             API id is disambiguated, see inbox.ts; v3: its group, if any; v4: v3
 *                             and the file it carries, written only with one)
 *   inboxById    key msg id   (no longer written: the inbox keeps shown id → cursor in memory; records
 *                             of earlier versions are deleted at start)
 *   outbox       key seq      an outbound message (plaintext and envelope) until its receipt arrives
 *   idempotency  key idem key message id, recipient and body hash of the first Send with that key,
 *                             and (v2) its position in idemOrder
 *   idemOrder    key seq      the idempotency key written at that position (oldest first: retention)
 *   replyIdem    key cursor:n an idempotency record scoped to the unacked inbound message it answers
 *   quarantine   key seq      an envelope from a contact whose identity changed, until approved
 *   meta/counters             the next inbox cursor (never reused, even after acks)
 */
import { Reader, Writer } from '../../core/bytes.ts';
import { DecodeError } from '../../core/errors.ts';
import { parseUserId, type UserId } from '../../core/user-id.ts';
import type { AttachmentInfo, TrustState } from './types.ts';

const V1 = 1;
const MAX_CONTENT_TYPE = 255;
const MAX_BLOB = 1 << 24;
/** Idempotency keys are at most 128 characters (the API's limit); a stored one is read up to this. */
const MAX_IDEMPOTENCY_KEY = 1024;

const V2 = 2;

function header(r: Reader, what: string, newest = V1): number {
  const v = r.u8();
  if (v < V1 || v > newest) throw new DecodeError(`${what}: unknown version`, 'UnsupportedVersion');
  return v;
}
const userId = (r: Reader): UserId => parseUserId(r.string16(64));
const optional = <T>(r: Reader, read: () => T): T | undefined => (r.bool() ? read() : undefined);

// ---- contact -------------------------------------------------------------------------------

export interface ContactRecord {
  userId: UserId;
  /** The approved (or first-seen) Ed25519 identity key. */
  identityKey: Uint8Array;
  trust: TrustState;
  /** A different identity key seen for this user id, awaiting VerifyContact. */
  pendingIdentityKey?: Uint8Array;
  /** Highest bundle version seen (rollback protection). */
  lastBundleVersion?: number;
  addedAt: number;
  /**
   * Last message either way, at CONTACT_ACTIVITY_GRANULARITY_MS (contacts.ts): unverified contacts
   * idle for longer than their retention are forgotten. Absent in v1 records.
   */
  lastActiveAt?: number;
}

const TRUST_CODES: Record<TrustState, number> = { unverified: 0, verified: 1, changed: 2 };
const TRUST_BY_CODE: readonly TrustState[] = ['unverified', 'verified', 'changed'];

export function encodeContact(c: ContactRecord): Uint8Array {
  const w = new Writer().u8(V2).string16(c.userId).fixed(c.identityKey).u8(TRUST_CODES[c.trust]);
  w.bool(c.pendingIdentityKey !== undefined);
  if (c.pendingIdentityKey !== undefined) w.fixed(c.pendingIdentityKey);
  w.bool(c.lastBundleVersion !== undefined);
  if (c.lastBundleVersion !== undefined) w.u64(c.lastBundleVersion);
  w.u64(c.addedAt).bool(c.lastActiveAt !== undefined);
  if (c.lastActiveAt !== undefined) w.u64(c.lastActiveAt);
  return w.finish();
}

export function decodeContact(b: Uint8Array): ContactRecord {
  const r = new Reader(b, 'contact record');
  const version = header(r, 'contact record', V2);
  const id = userId(r);
  const identityKey = r.fixed(32);
  const trust = TRUST_BY_CODE[r.u8()];
  if (trust === undefined) throw new DecodeError('contact record: bad trust state');
  const pendingIdentityKey = optional(r, () => r.fixed(32));
  const lastBundleVersion = optional(r, () => r.u64());
  const addedAt = r.u64();
  const lastActiveAt = version >= V2 ? optional(r, () => r.u64()) : undefined;
  r.end();
  return {
    userId: id,
    identityKey,
    trust,
    addedAt,
    ...(pendingIdentityKey !== undefined ? { pendingIdentityKey } : {}),
    ...(lastBundleVersion !== undefined ? { lastBundleVersion } : {}),
    ...(lastActiveAt !== undefined ? { lastActiveAt } : {}),
  };
}

// ---- inbox ---------------------------------------------------------------------------------

export interface InboxRecord {
  cursor: number;
  messageId: Uint8Array; // 16
  from: UserId;
  body: Uint8Array;
  contentType: string;
  sentAt: number;
  receivedAt: number;
  /**
   * The message id was in use by another unacked message when this one arrived: its API id is
   * disambiguated with its cursor (inbox.ts). Absent (false) in v1 records.
   */
  aliased?: boolean;
  /** The group of a group message (v3 and later; absent for a direct message). */
  groupId?: string;
  /** The file the message carries (v4 records only; written as v3 without one). */
  attachment?: AttachmentInfo;
}

const V3 = 3;
const V4 = 4;
const MAX_GROUP_ID_TEXT = 64;
const MAX_FILE_NAME = 255;

export function encodeInbox(m: InboxRecord): Uint8Array {
  const w = new Writer()
    .u8(m.attachment === undefined ? V3 : V4)
    .u64(m.cursor)
    .fixed(m.messageId)
    .string16(m.from)
    .bytes32(m.body)
    .string16(m.contentType)
    .u64(m.sentAt)
    .u64(m.receivedAt)
    .bool(m.aliased === true)
    .string16(m.groupId ?? '');
  const a = m.attachment;
  if (a !== undefined) w.string16(a.attachmentId).string16(a.fileName).string16(a.contentType).u64(a.size).fixed(a.sha256);
  return w.finish();
}

export function decodeInbox(b: Uint8Array): InboxRecord {
  const r = new Reader(b, 'inbox record');
  const version = header(r, 'inbox record', V4);
  const m: InboxRecord = {
    cursor: r.u64(),
    messageId: r.fixed(16),
    from: userId(r),
    body: r.bytes32(MAX_BLOB),
    contentType: r.string16(MAX_CONTENT_TYPE),
    sentAt: r.u64(),
    receivedAt: r.u64(),
  };
  if (version >= V2 && r.bool()) m.aliased = true;
  if (version >= V3) {
    const groupId = r.string16(MAX_GROUP_ID_TEXT);
    if (groupId !== '') m.groupId = groupId;
  }
  if (version >= V4) {
    m.attachment = { attachmentId: r.string16(64), fileName: r.string16(MAX_FILE_NAME), contentType: r.string16(MAX_CONTENT_TYPE), size: r.u64(), sha256: r.fixed(32) };
  }
  r.end();
  return m;
}

// ---- outbox --------------------------------------------------------------------------------

export interface OutboxRecord {
  seq: number;
  to: UserId;
  messageId: Uint8Array; // 16
  /** Transcript sequence number of this message in the conversation with `to`. */
  contentSeq: number;
  /** The encoded Content (id, seq, prevHash, sentAt, body): re-encrypted unchanged after a session reset. */
  content: Uint8Array;
  createdAt: number;
  /** The envelope as last published; retransmissions send these same bytes. */
  envelope: Uint8Array;
}

export function encodeOutbox(m: OutboxRecord): Uint8Array {
  return new Writer()
    .u8(V1)
    .u64(m.seq)
    .string16(m.to)
    .fixed(m.messageId)
    .u64(m.contentSeq)
    .bytes32(m.content)
    .u64(m.createdAt)
    .bytes32(m.envelope)
    .finish();
}

export function decodeOutbox(b: Uint8Array): OutboxRecord {
  const r = new Reader(b, 'outbox record');
  header(r, 'outbox record');
  const m: OutboxRecord = {
    seq: r.u64(),
    to: userId(r),
    messageId: r.fixed(16),
    contentSeq: r.u64(),
    content: r.bytes32(MAX_BLOB),
    createdAt: r.u64(),
    envelope: r.bytes32(MAX_BLOB),
  };
  r.end();
  return m;
}

// ---- idempotency ---------------------------------------------------------------------------

export interface IdempotencyRecord {
  messageId: Uint8Array;
  to: UserId;
  /** SHA-256 over recipient, content type and body: the same key with another message is a conflict. */
  requestHash: Uint8Array;
  at: number;
  /** Its key in idemOrder (0 in v1 records, written before there was an order: see idempotency.ts). */
  seq: number;
}

export function encodeIdempotency(x: IdempotencyRecord): Uint8Array {
  return new Writer().u8(V2).fixed(x.messageId).string16(x.to).fixed(x.requestHash).u64(x.at).u64(x.seq).finish();
}

export function decodeIdempotency(b: Uint8Array): IdempotencyRecord {
  const r = new Reader(b, 'idempotency record');
  const version = header(r, 'idempotency record', V2);
  const x = { messageId: r.fixed(16), to: userId(r), requestHash: r.fixed(32), at: r.u64(), seq: version >= V2 ? r.u64() : 0 };
  r.end();
  return x;
}

/** idemOrder: the idempotency key stored at a position (retention sweeps oldest first). */
export function encodeIdemOrder(key: string): Uint8Array {
  return new Writer().u8(V1).string16(key).finish();
}

export function decodeIdemOrder(b: Uint8Array): string {
  const r = new Reader(b, 'idempotency order record');
  header(r, 'idempotency order record');
  const key = r.string16(MAX_IDEMPOTENCY_KEY);
  r.end();
  return key;
}

/** replyIdem: an idempotency record that lives only until the inbound message it answers is acked. */
export interface ReplyIdempotencyRecord {
  /** Inbox cursor of the message answered. */
  cursor: number;
  key: string;
  messageId: Uint8Array;
  to: UserId;
  requestHash: Uint8Array;
  at: number;
}

export function encodeReplyIdempotency(x: ReplyIdempotencyRecord): Uint8Array {
  return new Writer().u8(V1).u64(x.cursor).string16(x.key).fixed(x.messageId).string16(x.to).fixed(x.requestHash).u64(x.at).finish();
}

export function decodeReplyIdempotency(b: Uint8Array): ReplyIdempotencyRecord {
  const r = new Reader(b, 'reply idempotency record');
  header(r, 'reply idempotency record');
  const x = { cursor: r.u64(), key: r.string16(MAX_IDEMPOTENCY_KEY), messageId: r.fixed(16), to: userId(r), requestHash: r.fixed(32), at: r.u64() };
  r.end();
  return x;
}

// ---- quarantine ----------------------------------------------------------------------------

export interface QuarantineRecord {
  from: UserId;
  envelope: Uint8Array;
  receivedAt: number;
}

export function encodeQuarantine(x: QuarantineRecord): Uint8Array {
  return new Writer().u8(V1).string16(x.from).bytes32(x.envelope).u64(x.receivedAt).finish();
}

export function decodeQuarantine(b: Uint8Array): QuarantineRecord {
  const r = new Reader(b, 'quarantine record');
  header(r, 'quarantine record');
  const x = { from: userId(r), envelope: r.bytes32(MAX_BLOB), receivedAt: r.u64() };
  r.end();
  return x;
}

// ---- counters ------------------------------------------------------------------------------

export interface Counters {
  nextCursor: number;
}

export function encodeCounters(c: Counters): Uint8Array {
  return new Writer().u8(V1).u64(c.nextCursor).finish();
}

export function decodeCounters(b: Uint8Array): Counters {
  const r = new Reader(b, 'counters record');
  header(r, 'counters record');
  const c = { nextCursor: r.u64() };
  r.end();
  return c;
}
