/**
 * What travels inside the encryption: the ratchet plaintext.
 *
 *   version u8 (= 1) ‖ kind u8 (1 message, 2 receipt, 3 reset) ‖ message id (16)
 *   ‖ seq u64 ‖ prevHash (32) ‖ sentAt u64 (ms)
 *   ‖ message: contentType (u16 length ‖ UTF-8, ≤ 255 bytes) ‖ body (u32 length ‖ bytes)
 *     receipt: upToSeq u64
 *     reset:   (nothing) or, from a daemon restored from a backup, rebase: 1 u8 ‖ sendSeq u64
 *              ‖ sendHash (32): where its own transcript now stands (see transcript.ts rebaseReceive)
 *
 * `seq` numbers the peer-to-peer transcript of 'message' contents: 1, 2, 3 … across sessions;
 * prevHash = transcriptHash of the previous message (32 zero bytes before the first). Receipts
 * (cumulative: every message up to upToSeq was stored) and resets are outside the sequence: seq 0 and
 * a zero prevHash, which the decoder enforces so that every accepted encoding is canonical.
 *   transcriptHash(c) = SHA-256("ratchetd-v1/transcript" ‖ encodeContent(c))
 * A retransmission re-encrypts the identical Content (same id, seq, hash), so the receiver drops it as
 * a duplicate instead of flagging it.
 *
 * Kinds 4–9 are the pairwise contents of groups (core/group/content.ts), with this same header:
 * 4 group message, 5 membership version, 6 sender key, 7 key request, 8 group receipt, 9 leave.
 * decodeContent refuses them (unknown kind, as an older decoder does) until the engine handles them.
 *
 * Kinds 16 and 17 carry files (core/file/):
 *     file:          descriptor (u32 length ‖ core/file/descriptor.ts encoding), inside the sequence
 *                    like a message (ordered, exactly once, re-sent by the outbox until receipted)
 *     file progress: core/file/progress.ts fields, outside the sequence like a receipt
 */
import type { Crypto } from './crypto.ts';
import { DecodeError, RatchetError } from './errors.ts';
import { Reader, Writer, concat, utf8 } from './bytes.ts';
import { MAX_BODY_BYTES } from './limits.ts';
import { MAX_DESCRIPTOR_BYTES, decodeDescriptor, encodeDescriptor, checkDescriptor, type FileDescriptor } from './file/descriptor.ts';
import { checkProgress, encodeProgress, readProgress, type FileProgress } from './file/progress.ts';

export const MESSAGE_ID_BYTES = 16;
export const TRANSCRIPT_HASH_BYTES = 32;
export const MAX_CONTENT_TYPE_BYTES = 255;
const CONTENT_VERSION = 1;
/** Every content kind of format version 1 (the byte after the version). */
export const CONTENT_KIND = {
  message: 1,
  receipt: 2,
  reset: 3,
  groupMessage: 4,
  groupMembership: 5,
  groupSenderKey: 6,
  groupKeyRequest: 7,
  groupReceipt: 8,
  groupLeave: 9,
  file: 16,
  fileProgress: 17,
} as const;
const KIND_MESSAGE = CONTENT_KIND.message;
const KIND_RECEIPT = CONTENT_KIND.receipt;
const KIND_RESET = CONTENT_KIND.reset;
/** Fixed fields before the kind-specific part. */
export const CONTENT_HEADER_BYTES = 1 + 1 + MESSAGE_ID_BYTES + 8 + TRANSCRIPT_HASH_BYTES + 8;
/** Largest message body: what fits in the ratchet's largest bucket after the content fields. */
export const MAX_MESSAGE_BODY_BYTES = MAX_BODY_BYTES - CONTENT_HEADER_BYTES - 2 - MAX_CONTENT_TYPE_BYTES - 4;
const TRANSCRIPT_LABEL = utf8.encode('ratchetd-v1/transcript');
export const ZERO_HASH: Uint8Array = new Uint8Array(TRANSCRIPT_HASH_BYTES);

export type ContentInput =
  | { readonly kind: 'message'; readonly body: Uint8Array; readonly contentType: string; readonly messageId?: Uint8Array }
  | { readonly kind: 'receipt'; readonly upToSeq: number }
  | { readonly kind: 'reset'; readonly rebase?: TranscriptPosition }
  | { readonly kind: 'file'; readonly descriptor: FileDescriptor; readonly messageId?: Uint8Array }
  | { readonly kind: 'fileProgress'; readonly progress: FileProgress };

/** A point in a sender's transcript: its last seq and the transcriptHash of that message. */
export interface TranscriptPosition {
  readonly seq: number;
  readonly hash: Uint8Array;
}

const REBASE_FLAG = 1;

export interface ContentMeta {
  readonly messageId: Uint8Array;
  /** ≥ 1 for messages; 0 for receipts and resets (outside the sequence). */
  readonly seq: number;
  readonly prevHash: Uint8Array;
  readonly sentAt: number;
}

export type MessageContent = { readonly kind: 'message'; readonly body: Uint8Array; readonly contentType: string } & ContentMeta;
export type ReceiptContent = { readonly kind: 'receipt'; readonly upToSeq: number } & ContentMeta;
export type ResetContent = { readonly kind: 'reset'; readonly rebase?: TranscriptPosition } & ContentMeta;
export type FileContent = { readonly kind: 'file'; readonly descriptor: FileDescriptor } & ContentMeta;
export type FileProgressContent = { readonly kind: 'fileProgress'; readonly progress: FileProgress } & ContentMeta;
export type Content = MessageContent | ReceiptContent | ResetContent | FileContent | FileProgressContent;

/** Contents numbered in the transcript (ordered, exactly once, receipted): messages and files. */
export type SequencedContent = MessageContent | FileContent;

export function isSequenced(c: Content): c is SequencedContent {
  return c.kind === 'message' || c.kind === 'file';
}

/** Rejects caller input that cannot be encoded (MessageTooLarge / DecodeError). */
export function checkContentInput(input: ContentInput): void {
  if (input.kind === 'message') {
    if (input.body.length > MAX_MESSAGE_BODY_BYTES) throw new RatchetError('MessageTooLarge', 'message body too large');
    if (utf8.encode(input.contentType).length > MAX_CONTENT_TYPE_BYTES) throw new DecodeError('content type too long');
    if (input.messageId !== undefined && input.messageId.length !== MESSAGE_ID_BYTES) {
      throw new DecodeError('message id must be 16 bytes');
    }
  } else if (input.kind === 'receipt') {
    if (!Number.isSafeInteger(input.upToSeq) || input.upToSeq < 0) throw new DecodeError('receipt: bad upToSeq');
  } else if (input.kind === 'file') {
    checkDescriptor(input.descriptor);
    if (input.messageId !== undefined && input.messageId.length !== MESSAGE_ID_BYTES) throw new DecodeError('message id must be 16 bytes');
  } else if (input.kind === 'fileProgress') {
    checkProgress(input.progress);
  } else if (input.rebase !== undefined) {
    if (!Number.isSafeInteger(input.rebase.seq) || input.rebase.seq < 0 || input.rebase.hash.length !== TRANSCRIPT_HASH_BYTES) {
      throw new DecodeError('reset: bad rebase position');
    }
  }
}

/** Completes an input with its id, sequence number, previous hash and time. */
export function sealContent(crypto: Crypto, input: ContentInput, seq: number, prevHash: Uint8Array, sentAt: number): Content {
  checkContentInput(input);
  if (input.kind === 'message') {
    const messageId = input.messageId?.slice() ?? crypto.randomBytes(MESSAGE_ID_BYTES);
    return { kind: 'message', body: input.body, contentType: input.contentType, messageId, seq, prevHash, sentAt };
  }
  if (input.kind === 'file') {
    const messageId = input.messageId?.slice() ?? crypto.randomBytes(MESSAGE_ID_BYTES);
    return { kind: 'file', descriptor: input.descriptor, messageId, seq, prevHash, sentAt };
  }
  const meta = { messageId: crypto.randomBytes(MESSAGE_ID_BYTES), seq: 0, prevHash: ZERO_HASH, sentAt };
  if (input.kind === 'fileProgress') return { kind: 'fileProgress', progress: input.progress, ...meta };
  if (input.kind === 'receipt') return { kind: 'receipt', upToSeq: input.upToSeq, ...meta };
  return input.rebase === undefined ? { kind: 'reset', ...meta } : { kind: 'reset', rebase: { seq: input.rebase.seq, hash: input.rebase.hash.slice() }, ...meta };
}

/** Writes the header every content kind starts with: version ‖ kind ‖ message id ‖ seq ‖ prevHash ‖ sentAt. */
export function writeContentHeader(kind: number, meta: ContentMeta): Writer {
  if (meta.messageId.length !== MESSAGE_ID_BYTES || meta.prevHash.length !== TRANSCRIPT_HASH_BYTES) {
    throw new DecodeError('content: bad id or hash length');
  }
  return new Writer().u8(CONTENT_VERSION).u8(kind).fixed(meta.messageId).u64(meta.seq).fixed(meta.prevHash).u64(meta.sentAt);
}

/** Reads that header (UnsupportedVersion for another version); the reader is left on the kind's part. */
export function readContentHeader(r: Reader): { kind: number; meta: ContentMeta } {
  if (r.u8() !== CONTENT_VERSION) throw new DecodeError('content: unsupported version', 'UnsupportedVersion');
  const kind = r.u8();
  const messageId = r.fixed(MESSAGE_ID_BYTES);
  const seq = r.u64();
  const prevHash = r.fixed(TRANSCRIPT_HASH_BYTES);
  const sentAt = r.u64();
  return { kind, meta: { messageId, seq, prevHash, sentAt } };
}

export function encodeContent(c: Content): Uint8Array {
  const w = writeContentHeader(CONTENT_KIND[c.kind], c);
  if (c.kind === 'message') w.string16(c.contentType).bytes32(c.body);
  else if (c.kind === 'receipt') w.u64(c.upToSeq);
  else if (c.kind === 'file') w.bytes32(encodeDescriptor(c.descriptor));
  else if (c.kind === 'fileProgress') w.fixed(encodeProgress(c.progress));
  else if (c.rebase !== undefined) w.u8(REBASE_FLAG).u64(c.rebase.seq).fixed(c.rebase.hash);
  return w.finish();
}

export function decodeContent(bytes: Uint8Array): Content {
  const r = new Reader(bytes, 'content');
  const { kind, meta } = readContentHeader(r);
  const { seq, prevHash } = meta;
  let c: Content;
  if (kind === KIND_MESSAGE) {
    const rawType = r.bytes16(MAX_CONTENT_TYPE_BYTES);
    const contentType = utf8.decode(rawType);
    if (utf8.encode(contentType).length !== rawType.length) throw new DecodeError('content: non-canonical content type');
    const body = r.bytes32(MAX_MESSAGE_BODY_BYTES);
    if (seq < 1) throw new DecodeError('content: message without sequence number');
    c = { kind: 'message', contentType, body, ...meta };
  } else if (kind === KIND_RECEIPT || kind === KIND_RESET) {
    if (seq !== 0 || prevHash.some((b) => b !== 0)) throw new DecodeError('content: receipt/reset inside the sequence');
    if (kind === KIND_RECEIPT) c = { kind: 'receipt', upToSeq: r.u64(), ...meta };
    else if (r.remaining === 0) c = { kind: 'reset', ...meta };
    else {
      if (r.u8() !== REBASE_FLAG) throw new DecodeError('content: unknown reset field');
      c = { kind: 'reset', rebase: { seq: r.u64(), hash: r.fixed(TRANSCRIPT_HASH_BYTES) }, ...meta };
    }
  } else if (kind === CONTENT_KIND.file) {
    const descriptor = decodeDescriptor(r.view32(MAX_DESCRIPTOR_BYTES));
    if (seq < 1) throw new DecodeError('content: file without sequence number');
    c = { kind: 'file', descriptor, ...meta };
  } else if (kind === CONTENT_KIND.fileProgress) {
    if (seq !== 0 || prevHash.some((b) => b !== 0)) throw new DecodeError('content: file progress inside the sequence');
    c = { kind: 'fileProgress', progress: readProgress(r), ...meta };
  } else {
    throw new DecodeError('content: unknown kind');
  }
  r.end();
  return c;
}

/** SHA-256("ratchetd-v1/transcript" ‖ encodeContent(c)): what the next message's prevHash must be. */
export function transcriptHash(crypto: Crypto, c: Content): Uint8Array {
  return transcriptHashOfEncoding(crypto, encodeContent(c));
}

/**
 * transcriptHash from the content's encoding when it is at hand (the plaintext just encrypted or
 * decrypted), so the content is not encoded again. The decoder accepts only canonical encodings,
 * so the received plaintext is exactly encodeContent(decodeContent(plaintext)).
 */
export function transcriptHashOfEncoding(crypto: Crypto, encoded: Uint8Array): Uint8Array {
  return crypto.sha256(concat(TRANSCRIPT_LABEL, encoded));
}
