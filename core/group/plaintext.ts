/**
 * What a group message carries inside its encryption (the same bytes for every member):
 *
 *   format u8 (= 1) ‖ message id (16) ‖ senderSeq u64 (≥ 1) ‖ sentAt u64 (ms, the sender's clock)
 *   ‖ membershipVersion u64 (≥ 1) ‖ contentType (u16 length ‖ UTF-8, ≤ 255 bytes)
 *   ‖ body (u32 length ‖ bytes, ≤ MAX_GROUP_BODY_BYTES)
 *
 * senderSeq numbers one sender's messages to one group, 1, 2, 3 … across its sender keys: cumulative
 * group receipts (per group, per sender) and duplicate detection of re-sent messages use it.
 * membershipVersion is the version the sender had applied when it sent: the members it was addressed
 * to (a removal racing a send has this defined outcome).
 *
 * MAX_GROUP_BODY_BYTES is 62 bytes below a direct message's limit: a message its sender has to re-send
 * pairwise (recovery, content.ts kind 4 "resent") must fit one pairwise message with these fields.
 */
import { DecodeError } from '../errors.ts';
import { Reader, Writer, utf8 } from '../bytes.ts';
import { MAX_CONTENT_TYPE_BYTES, MAX_MESSAGE_BODY_BYTES, MESSAGE_ID_BYTES } from '../content.ts';
import { GROUP_ID_BYTES } from '../limits.ts';
import { GroupError } from './errors.ts';

const PLAINTEXT_FORMAT = 1;
/** Fixed fields before the content type. */
export const GROUP_PLAINTEXT_HEADER_BYTES = 1 + MESSAGE_ID_BYTES + 8 + 8 + 8;
/** What a pairwise "resent" content adds around the group plaintext (group id, mode, length). */
export const RESENT_WRAPPER_BYTES = GROUP_ID_BYTES + 1 + 4;
/** Largest group message body (see above). */
export const MAX_GROUP_BODY_BYTES = MAX_MESSAGE_BODY_BYTES - RESENT_WRAPPER_BYTES - GROUP_PLAINTEXT_HEADER_BYTES;
/** Largest group plaintext encoding. */
export const MAX_GROUP_PLAINTEXT_BYTES = GROUP_PLAINTEXT_HEADER_BYTES + 2 + MAX_CONTENT_TYPE_BYTES + 4 + MAX_GROUP_BODY_BYTES;

export interface GroupPlaintext {
  readonly messageId: Uint8Array;
  readonly senderSeq: number;
  readonly sentAt: number;
  readonly membershipVersion: number;
  readonly contentType: string;
  readonly body: Uint8Array;
}

/** Refuses what cannot be encoded (MessageTooLarge / DecodeError). */
export function checkGroupPlaintext(p: GroupPlaintext): void {
  if (p.body.length > MAX_GROUP_BODY_BYTES) throw new GroupError('MessageTooLarge', `group message body above ${MAX_GROUP_BODY_BYTES} bytes`);
  if (utf8.encode(p.contentType).length > MAX_CONTENT_TYPE_BYTES) throw new DecodeError('group message: content type too long');
  if (p.messageId.length !== MESSAGE_ID_BYTES) throw new DecodeError('group message: message id must be 16 bytes');
  if (!Number.isSafeInteger(p.senderSeq) || p.senderSeq < 1) throw new DecodeError('group message: bad senderSeq');
  if (!Number.isSafeInteger(p.membershipVersion) || p.membershipVersion < 1) throw new DecodeError('group message: bad membership version');
}

export function encodeGroupPlaintext(p: GroupPlaintext): Uint8Array {
  checkGroupPlaintext(p);
  return new Writer()
    .u8(PLAINTEXT_FORMAT)
    .fixed(p.messageId)
    .u64(p.senderSeq)
    .u64(p.sentAt)
    .u64(p.membershipVersion)
    .string16(p.contentType)
    .bytes32(p.body)
    .finish();
}

/** Parses a group plaintext; DecodeError on anything malformed or non-canonical. */
export function decodeGroupPlaintext(bytes: Uint8Array): GroupPlaintext {
  const r = new Reader(bytes, 'group plaintext');
  if (r.u8() !== PLAINTEXT_FORMAT) throw new DecodeError('group plaintext: unsupported format', 'UnsupportedVersion');
  const messageId = r.fixed(MESSAGE_ID_BYTES);
  const senderSeq = r.u64();
  const sentAt = r.u64();
  const membershipVersion = r.u64();
  const rawType = r.bytes16(MAX_CONTENT_TYPE_BYTES);
  const contentType = utf8.decode(rawType);
  if (utf8.encode(contentType).length !== rawType.length) throw new DecodeError('group plaintext: non-canonical content type');
  const body = r.bytes32(MAX_GROUP_BODY_BYTES);
  r.end();
  if (senderSeq < 1 || membershipVersion < 1) throw new DecodeError('group plaintext: zero senderSeq or version');
  return { messageId, senderSeq, sentAt, membershipVersion, contentType, body };
}
