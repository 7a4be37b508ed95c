/**
 * The JavaScript shapes of the proto messages (as loaded by proto.ts) and the conversions between
 * them and the backend's types. Conversions here are total: validation of client input lives in
 * validate.ts.
 */
import type { Contact, DaemonEvent, DeadLetter, GroupInfo, Identity, Status, TrustState, DeliveryState } from './backend.ts';
import type { UserId } from '../../core/user-id.ts';

export interface WireIdentity {
  user_id: string;
  identity_key: Uint8Array;
  safety_number: string;
}

export interface WireSendRequest {
  to: string;
  /** '' for a direct message (exactly one of `to` and `group_id`). */
  group_id?: string;
  body: Uint8Array;
  content_type: string;
  idempotency_key: string;
  /** '' when the message answers nothing. */
  reply_to: string;
}

/** The error of a failed send on SendStream: the status a unary Send would end with. */
export interface WireSendError {
  code: number;
  /** '' when there is no ratchetd error code. */
  error_code: string;
  message: string;
}

/** A SendStreamResult as written by the server (the oneof member set decides the `result`). */
export type WireSendStreamResultOut = { request_id: number; message_id: string } | { request_id: number; error: WireSendError };

/** A SendStreamResult as read by the client (`result` names the oneof member that is set). */
export type WireSendStreamResult =
  | { request_id: number; result: 'message_id'; message_id: string }
  | { request_id: number; result: 'error'; error: WireSendError }
  | { request_id: number; result?: undefined };

export interface WireReceiveRequest {
  cursor: number;
}

export interface WireMessage {
  message_id: string;
  from: string;
  body: Uint8Array;
  content_type: string;
  sent_at: number;
  received_at: number;
  cursor: number;
  /** '' for a direct message */
  group_id: string;
  /** Absent (or null as decoded) when the message carries no file. */
  attachment?: WireAttachment | null;
}

export interface WireAttachment {
  attachment_id: string;
  file_name: string;
  content_type: string;
  size: number;
  sha256: Uint8Array;
}

export interface WireFileProgress {
  direction: string;
  message_id: string;
  attachment_id: string;
  peer: string;
  bytes_done: number;
  bytes_total: number;
  state: string;
  at: number;
  group_id?: string;
}

export interface WireGroup {
  group_id: string;
  name: string;
  owner: string;
  members: string[];
  version: number;
}

export interface WireDeliveryUpdate {
  message_id: string;
  to: string;
  state: string;
  at: number;
}

export interface WireIdentityChanged {
  user_id: string;
  new_identity_key: Uint8Array;
  at: number;
}

export type WireEvent =
  | { event: 'message'; message: WireMessage }
  | { event: 'delivery'; delivery: WireDeliveryUpdate }
  | { event: 'identity_changed'; identity_changed: WireIdentityChanged }
  | { event: 'caught_up'; caught_up: { cursor: number } }
  | { event: 'file_progress'; file_progress: WireFileProgress }
  | { event: 'group_changed'; group_changed: { group: WireGroup; removed: boolean } };

export function groupToWire(g: GroupInfo): WireGroup {
  return { group_id: g.groupId, name: g.name, owner: g.owner, members: [...g.members], version: g.version };
}

export function groupFromWire(w: WireGroup): GroupInfo {
  return { groupId: w.group_id, name: w.name, owner: w.owner as UserId, members: (w.members ?? []) as UserId[], version: Number(w.version) };
}

export interface WireContact {
  user_id: string;
  identity_key: Uint8Array;
  trust: string;
  safety_number: string;
  pending_identity_key: Uint8Array;
}

export interface WireStatus {
  broker_connected: boolean;
  broker_url: string;
  /** Empty when connected or never tried. */
  broker_error: string;
  one_time_prekeys: number;
  signed_prekey_age_ms: number;
  outbox_depth: number;
  inbox_depth: number;
  contacts: number;
  contacts_refused: number;
  messages_refused: number;
  idempotency_records: number;
  dead_letters: number;
  webhook_pending: number;
}

export interface WireDeadLetter {
  message_id: string;
  from: string;
  cursor: number;
  attempts: number;
  last_error: string;
  first_attempt_at: number;
  dead_at: number;
}

/** Events a client sees: the daemon's events plus the end of the replay. */
export type ApiEvent = DaemonEvent | { kind: 'caughtUp'; cursor: number };

const EMPTY = new Uint8Array(0);

export function identityToWire(i: Identity): WireIdentity {
  return { user_id: i.userId, identity_key: i.identityKey, safety_number: i.fingerprint };
}

export function identityFromWire(w: WireIdentity): Identity {
  return { userId: w.user_id as UserId, identityKey: new Uint8Array(w.identity_key), fingerprint: w.safety_number };
}

export function contactToWire(c: Contact): WireContact {
  return {
    user_id: c.userId,
    identity_key: c.identityKey,
    trust: c.trust,
    safety_number: c.safetyNumber,
    pending_identity_key: c.pendingIdentityKey ?? EMPTY,
  };
}

export function contactFromWire(w: WireContact): Contact {
  const contact: Contact = {
    userId: w.user_id as UserId,
    identityKey: new Uint8Array(w.identity_key),
    trust: w.trust as TrustState,
    safetyNumber: w.safety_number,
  };
  if (w.pending_identity_key.length > 0) contact.pendingIdentityKey = new Uint8Array(w.pending_identity_key);
  return contact;
}

export function statusToWire(s: Status): WireStatus {
  return {
    broker_connected: s.brokerConnected,
    broker_url: s.brokerUrl,
    broker_error: s.brokerError ?? '',
    one_time_prekeys: s.oneTimePrekeys,
    signed_prekey_age_ms: s.signedPrekeyAgeMs,
    outbox_depth: s.outboxDepth,
    inbox_depth: s.inboxDepth,
    contacts: s.contacts,
    contacts_refused: s.contactsRefused,
    messages_refused: s.messagesRefused,
    idempotency_records: s.idempotencyRecords,
    dead_letters: s.deadLetters,
    webhook_pending: s.webhookPending,
  };
}

export function statusFromWire(w: WireStatus): Status {
  return {
    brokerConnected: w.broker_connected,
    brokerUrl: w.broker_url,
    ...(w.broker_error === undefined || w.broker_error === '' ? {} : { brokerError: w.broker_error }),
    oneTimePrekeys: w.one_time_prekeys,
    signedPrekeyAgeMs: w.signed_prekey_age_ms,
    outboxDepth: w.outbox_depth,
    inboxDepth: w.inbox_depth,
    contacts: w.contacts,
    contactsRefused: w.contacts_refused,
    messagesRefused: w.messages_refused,
    idempotencyRecords: w.idempotency_records,
    deadLetters: w.dead_letters ?? 0,
    webhookPending: w.webhook_pending ?? 0,
  };
}

export function deadLetterToWire(d: DeadLetter): WireDeadLetter {
  return {
    message_id: d.messageId,
    from: d.from,
    cursor: d.cursor,
    attempts: d.attempts,
    last_error: d.lastError,
    first_attempt_at: d.firstAttemptAt,
    dead_at: d.deadAt,
  };
}

export function deadLetterFromWire(w: WireDeadLetter): DeadLetter {
  return {
    messageId: w.message_id,
    from: w.from as UserId,
    cursor: w.cursor,
    attempts: w.attempts,
    lastError: w.last_error,
    firstAttemptAt: w.first_attempt_at,
    deadAt: w.dead_at,
  };
}

export function eventToWire(e: ApiEvent): WireEvent {
  switch (e.kind) {
    case 'message': {
      const m = e.message;
      return {
        event: 'message',
        message: {
          message_id: m.messageId,
          from: m.from,
          body: m.body,
          content_type: m.contentType,
          sent_at: m.sentAt,
          received_at: m.receivedAt,
          cursor: m.cursor,
          group_id: m.groupId ?? '',
          ...(m.attachment !== undefined
            ? {
                attachment: {
                  attachment_id: m.attachment.attachmentId,
                  file_name: m.attachment.fileName,
                  content_type: m.attachment.contentType,
                  size: m.attachment.size,
                  sha256: m.attachment.sha256,
                },
              }
            : {}),
        },
      };
    }
    case 'fileProgress':
      return {
        event: 'file_progress',
        file_progress: {
          direction: e.direction,
          message_id: e.messageId,
          attachment_id: e.attachmentId,
          peer: e.peer,
          bytes_done: e.bytesDone,
          bytes_total: e.bytesTotal,
          state: e.state,
          at: e.at,
          group_id: e.groupId ?? '',
        },
      };
    case 'groupChanged':
      return { event: 'group_changed', group_changed: { group: groupToWire(e.group), removed: e.removed } };
    case 'delivery':
      return { event: 'delivery', delivery: { message_id: e.messageId, to: e.to, state: e.state, at: e.at } };
    case 'identityChanged':
      return { event: 'identity_changed', identity_changed: { user_id: e.userId, new_identity_key: e.newIdentityKey, at: e.at } };
    case 'caughtUp':
      return { event: 'caught_up', caught_up: { cursor: e.cursor } };
  }
}

/** Converts a received Event; undefined for an event kind this client does not know (newer daemon). */
export function eventFromWire(w: WireEvent): ApiEvent | undefined {
  switch (w.event) {
    case 'message': {
      const m = w.message;
      return {
        kind: 'message',
        message: {
          messageId: m.message_id,
          from: m.from as UserId,
          body: new Uint8Array(m.body),
          contentType: m.content_type,
          sentAt: m.sent_at,
          receivedAt: m.received_at,
          cursor: m.cursor,
          ...(m.group_id !== undefined && m.group_id !== '' ? { groupId: m.group_id } : {}),
          ...(m.attachment !== undefined && m.attachment !== null
            ? {
                attachment: {
                  attachmentId: m.attachment.attachment_id,
                  fileName: m.attachment.file_name,
                  contentType: m.attachment.content_type,
                  size: Number(m.attachment.size),
                  sha256: new Uint8Array(m.attachment.sha256),
                },
              }
            : {}),
        },
      };
    }
    case 'file_progress': {
      const p = w.file_progress;
      return {
        kind: 'fileProgress',
        direction: p.direction === 'send' ? 'send' : 'receive',
        messageId: p.message_id,
        attachmentId: p.attachment_id,
        peer: p.peer as UserId,
        bytesDone: Number(p.bytes_done),
        bytesTotal: Number(p.bytes_total),
        state: p.state === 'complete' ? 'complete' : p.state === 'failed' ? 'failed' : 'transferring',
        ...(p.group_id !== undefined && p.group_id !== '' ? { groupId: p.group_id } : {}),
        at: Number(p.at),
      };
    }
    case 'group_changed':
      return { kind: 'groupChanged', group: groupFromWire(w.group_changed.group), removed: w.group_changed.removed === true, at: 0 };
    case 'delivery': {
      const d = w.delivery;
      return { kind: 'delivery', messageId: d.message_id, to: d.to as UserId, state: d.state as DeliveryState, at: d.at };
    }
    case 'identity_changed': {
      const c = w.identity_changed;
      return { kind: 'identityChanged', userId: c.user_id as UserId, newIdentityKey: new Uint8Array(c.new_identity_key), at: c.at };
    }
    case 'caught_up':
      return { kind: 'caughtUp', cursor: w.caught_up.cursor };
    default:
      return undefined;
  }
}
