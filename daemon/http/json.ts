/**
 * The HTTP API's JSON shapes (camelCase, keys in hex, bodies in base64) and the conversions from
 * the engine's types (daemon/engine/types.ts). The webhook POSTs the same `HttpMessage` shape.
 * schemas.ts describes each shape for validation and the OpenAPI document.
 */
import type { Contact, DeadLetter, Identity, InboundMessage, Status } from '../engine/types.ts';
import type { ApiEvent } from '../api/wire.ts';

export interface HttpMessage {
  messageId: string;
  from: string;
  /** The group of a group message; '' for a direct message. */
  groupId: string;
  /** The body as UTF-8 text, present whenever the content type is text (text/…). */
  text?: string;
  bodyBase64: string;
  contentType: string;
  sentAt: number;
  receivedAt: number;
  cursor: number;
  /** The file the message carries (its body is then empty); download it with GET /v1/attachments/{attachmentId}. */
  attachment?: HttpAttachment;
}

export interface HttpAttachment {
  attachmentId: string;
  fileName: string;
  contentType: string;
  size: number;
  /** SHA-256 of the plaintext, hex. */
  sha256: string;
}

export interface HttpContact {
  userId: string;
  identityKey: string;
  trust: string;
  safetyNumber: string;
  pendingIdentityKey?: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Whether a content type is text: `text/…` (an empty one is the engine's default, text/plain). */
export function isTextContentType(contentType: string): boolean {
  const t = contentType.trim().toLowerCase();
  return t === '' || t.startsWith('text/');
}

const utf8Lenient = new TextDecoder('utf-8', { fatal: false });

export function messageJson(m: InboundMessage): HttpMessage {
  const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  return {
    messageId: m.messageId,
    from: m.from,
    groupId: m.groupId ?? '',
    ...(isTextContentType(m.contentType) ? { text: utf8Lenient.decode(m.body) } : {}),
    bodyBase64: body.toString('base64'),
    contentType: m.contentType,
    sentAt: m.sentAt,
    receivedAt: m.receivedAt,
    cursor: m.cursor,
    ...(m.attachment === undefined
      ? {}
      : { attachment: { attachmentId: m.attachment.attachmentId, fileName: m.attachment.fileName, contentType: m.attachment.contentType, size: m.attachment.size, sha256: hex(m.attachment.sha256) } }),
  };
}

export function identityJson(i: Identity): { userId: string; identityKey: string; safetyNumber: string } {
  return { userId: i.userId, identityKey: hex(i.identityKey), safetyNumber: i.fingerprint };
}

export function contactJson(c: Contact): HttpContact {
  return {
    userId: c.userId,
    identityKey: hex(c.identityKey),
    trust: c.trust,
    safetyNumber: c.safetyNumber,
    ...(c.pendingIdentityKey === undefined ? {} : { pendingIdentityKey: hex(c.pendingIdentityKey) }),
  };
}

export function statusJson(s: Status): Status {
  return { ...s };
}

export function deadLetterJson(d: DeadLetter): DeadLetter {
  return { ...d };
}

/** One SSE event (`data:` line) of GET /v1/events. */
export function eventJson(e: ApiEvent): Record<string, unknown> {
  switch (e.kind) {
    case 'message':
      return { type: 'message', message: messageJson(e.message) };
    case 'delivery':
      return { type: 'delivery', messageId: e.messageId, to: e.to, state: e.state, at: e.at };
    case 'identityChanged':
      return { type: 'identityChanged', userId: e.userId, newIdentityKey: hex(e.newIdentityKey), at: e.at };
    case 'caughtUp':
      return { type: 'caughtUp', cursor: e.cursor };
    case 'fileProgress':
      return { type: 'fileProgress', direction: e.direction, messageId: e.messageId, attachmentId: e.attachmentId, peer: e.peer, ...(e.groupId === undefined ? {} : { groupId: e.groupId }), bytesDone: e.bytesDone, bytesTotal: e.bytesTotal, state: e.state, at: e.at };
    case 'groupChanged':
      return { type: 'groupChanged', group: e.group, removed: e.removed, at: e.at };
  }
}
