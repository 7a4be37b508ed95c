/**
 * JSON Schemas of the HTTP API: the shared shapes (registered once with fastify.addSchema and
 * referenced by `$id`; they become the OpenAPI document's components) and each route's request and
 * response schemas. Fastify validates requests against them (shape and types only: the meaning of
 * each field is checked by the same parsers as gRPC, daemon/api/validate.ts) and serialises
 * responses with them; @fastify/swagger builds GET /v1/openapi.json from them, so the document is
 * the server's own description. Request bodies refuse unknown fields (a mistyped `idempotency_key`
 * must not be dropped silently); the alert intakes accept any extra field their senders add.
 */
import { MAX_FILE_BYTES } from '../../core/file/format.ts';
import { MAX_ACK_IDS } from '../api/validate.ts';

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', description, ...extra });
const ref = (id: string): Schema => ({ $ref: `${id}#` });

export const SHARED_SCHEMAS: Schema[] = [
  {
    $id: 'Error',
    type: 'object',
    description: 'Every error: the HTTP status matches the gRPC code (400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 404 NOT_FOUND, 409 ALREADY_EXISTS, 412 FAILED_PRECONDITION, 413 body too large, 415 not JSON, 429 RESOURCE_EXHAUSTED, 501 UNIMPLEMENTED, 503 UNAVAILABLE, 500 INTERNAL/DATA_LOSS).',
    required: ['code', 'errorCode', 'message'],
    properties: {
      code: str('The gRPC status name, e.g. INVALID_ARGUMENT'),
      errorCode: str('The precise ratchetd error code, e.g. UntrustedIdentity (Internal for an unexpected failure)'),
      message: str('What went wrong, for people'),
    },
  },
  {
    $id: 'Identity',
    type: 'object',
    required: ['userId', 'identityKey', 'safetyNumber'],
    properties: {
      userId: str('This daemon\'s user id (32 characters, a-z and 2-7)'),
      identityKey: str('Ed25519 identity public key, hex'),
      safetyNumber: str('This user\'s half of every safety number (digits)'),
    },
  },
  {
    $id: 'Message',
    type: 'object',
    description: 'A received message (also the body the webhook POSTs).',
    required: ['messageId', 'from', 'groupId', 'bodyBase64', 'contentType', 'sentAt', 'receivedAt', 'cursor'],
    properties: {
      messageId: str('Id to ack it with'),
      from: str('Sender user id'),
      groupId: str('The group of a group message; empty for a direct message'),
      text: str('The body as UTF-8 text; present whenever the content type is text/…'),
      bodyBase64: str('The body, base64'),
      contentType: str('MIME type of the body'),
      sentAt: int('ms since epoch, as claimed by the sender'),
      receivedAt: int('ms since epoch, when this daemon stored it'),
      cursor: int('Position in this daemon\'s inbox: resume after it (GET /v1/messages?cursor=, GET /v1/events?cursor=)'),
      attachment: ref('Attachment'),
    },
  },
  {
    $id: 'Attachment',
    type: 'object',
    description: 'The file a message carries (its body is then empty): stored and its sha256 verified before the message is offered. Download it with GET /v1/attachments/{attachmentId} before acking the message (the ack deletes it unless the daemon runs with --retain-attachments).',
    required: ['attachmentId', 'fileName', 'contentType', 'size', 'sha256'],
    properties: {
      attachmentId: str('What GET /v1/attachments/{attachmentId} takes (32 hex digits)'),
      fileName: str('The name the sender gave'),
      contentType: str('The MIME type the sender gave'),
      size: int('Bytes'),
      sha256: str('SHA-256 of the plaintext, hex'),
    },
  },
  {
    $id: 'Contact',
    type: 'object',
    required: ['userId', 'identityKey', 'trust', 'safetyNumber'],
    properties: {
      userId: str('The contact\'s user id'),
      identityKey: str('Trusted Ed25519 identity key, hex'),
      trust: { type: 'string', enum: ['unverified', 'verified', 'changed'], description: '"changed": a new identity key was seen, blocked until approved' },
      safetyNumber: str('Digits both sides compare out of band'),
      pendingIdentityKey: str('Only when trust is "changed": the new key awaiting approval, hex'),
    },
  },
  {
    $id: 'Status',
    type: 'object',
    required: ['brokerConnected', 'brokerUrl', 'oneTimePrekeys', 'signedPrekeyAgeMs', 'outboxDepth', 'inboxDepth', 'contacts', 'contactsRefused', 'messagesRefused', 'idempotencyRecords', 'deadLetters', 'webhookPending'],
    properties: {
      brokerConnected: { type: 'boolean' },
      brokerUrl: str('The broker URL the daemon uses'),
      brokerError: str('Why the last connection attempt failed; absent once connected'),
      oneTimePrekeys: int('One-time prekeys still published'),
      signedPrekeyAgeMs: int('Age of the signed prekey'),
      outboxDepth: int('Outgoing messages not yet confirmed delivered'),
      inboxDepth: int('Received messages not yet acked'),
      contacts: int('Known contacts'),
      contactsRefused: int('First messages refused since start: contact table full'),
      messagesRefused: int('Messages refused since start: inbox full'),
      idempotencyRecords: int('Idempotency keys remembered'),
      deadLetters: int('Messages the webhook gave up on'),
      webhookPending: int('Messages the webhook has still to deliver'),
    },
  },
  {
    $id: 'DeadLetter',
    type: 'object',
    required: ['messageId', 'from', 'cursor', 'attempts', 'lastError', 'firstAttemptAt', 'deadAt'],
    properties: {
      messageId: str('The message (still in the inbox)'),
      from: str('Sender user id'),
      cursor: int('Inbox cursor'),
      attempts: int('Delivery attempts made'),
      lastError: str('The last attempt\'s failure, e.g. "HTTP 503"'),
      firstAttemptAt: int('ms since epoch'),
      deadAt: int('ms since epoch: when the webhook gave up'),
    },
  },
  {
    $id: 'Event',
    type: 'object',
    description: 'One server-sent event (the JSON of a `data:` line). type "message": {message}; "delivery": {messageId, to, state (queued|sent|delivered|failed), at}; "identityChanged": {userId, newIdentityKey, at}; "caughtUp": {cursor} (end of the replay); "fileProgress": {direction (send|receive), messageId, attachmentId, peer, groupId (a file to or from a group), bytesDone, bytesTotal, state (transferring|complete|failed), at}; "groupChanged": {group: {groupId, name, owner, members, version}, removed, at}; "error": {error: {code, errorCode, message}} (then the stream ends).',
    required: ['type'],
    properties: {
      type: { type: 'string', enum: ['message', 'delivery', 'identityChanged', 'caughtUp', 'fileProgress', 'groupChanged', 'error'] },
      message: ref('Message'),
      messageId: { type: 'string' },
      to: { type: 'string' },
      state: { type: 'string', enum: ['queued', 'sent', 'delivered', 'failed', 'transferring', 'complete'] },
      direction: { type: 'string', enum: ['send', 'receive'] },
      attachmentId: { type: 'string' },
      peer: { type: 'string' },
      bytesDone: { type: 'integer' },
      bytesTotal: { type: 'integer' },
      at: { type: 'integer' },
      userId: { type: 'string' },
      newIdentityKey: { type: 'string' },
      cursor: { type: 'integer' },
      group: {
        type: 'object',
        properties: { groupId: { type: 'string' }, name: { type: 'string' }, owner: { type: 'string' }, members: { type: 'array', items: { type: 'string' } }, version: { type: 'integer' } },
      },
      removed: { type: 'boolean' },
      error: ref('Error'),
    },
  },
];

const errors = { default: { description: 'An error', ...ref('Error') } };
const obj = (properties: Schema, required: string[] = []): Schema => ({ type: 'object', additionalProperties: false, properties, ...(required.length === 0 ? {} : { required }) });
const ok = (description: string, schema: Schema): Schema => ({ 200: { description, ...schema }, ...errors });

const cursorParam = int('Only messages after this cursor (default 0: every unacked message)', { minimum: 0 });

export const ROUTE_SCHEMAS = {
  identity: { summary: 'Who this daemon is', response: ok('The identity', ref('Identity')) },
  send: {
    summary: 'Send a message (returns once it is stored in the outbox)',
    body: obj(
      {
        to: str('Recipient user id (or groupId)'),
        groupId: str('A group to send to instead of `to`'),
        text: str('The body as text (or bodyBase64)'),
        bodyBase64: str('The body, base64 (or text)'),
        contentType: str('MIME type (default text/plain; charset=utf-8 for text)'),
        idempotencyKey: str('The same key never sends twice'),
        replyTo: str('The id of the received message this answers (scopes the idempotency key to it)'),
      },
    ),
    response: ok('Stored in the outbox', obj({ messageId: str('The message id') }, ['messageId'])),
  },
  messages: {
    summary: 'Unacked messages after a cursor; with wait, a long poll',
    querystring: obj({
      cursor: cursorParam,
      wait: int('Seconds to wait for a first message when there is none (default 0, at most 120)', { minimum: 0 }),
      limit: int(`Most messages returned (default 100, at most ${MAX_ACK_IDS})`, { minimum: 1 }),
    }),
    response: ok(
      'Messages, oldest first (acked messages are never offered again; unacked ones are, after an earlier cursor)',
      obj({ messages: { type: 'array', items: ref('Message') }, cursor: int('The last message\'s cursor (or the request\'s): poll again after it') }, ['messages', 'cursor']),
    ),
  },
  events: {
    summary: 'Server-sent events: every unacked message after the cursor, caughtUp, then live events',
    querystring: obj({ cursor: int('Replay messages after this cursor (default 0); a Last-Event-ID header wins', { minimum: 0 }) }),
    response: {
      200: { description: 'text/event-stream; each message event carries `id: <cursor>`', content: { 'text/event-stream': { schema: ref('Event') } } },
      ...errors,
    },
  },
  ack: {
    summary: 'Ack received messages: they are deleted and never offered again',
    body: obj({ messageIds: { type: 'array', items: { type: 'string' }, description: `1 to ${MAX_ACK_IDS} message ids` } }, ['messageIds']),
    response: ok('Acked', obj({})),
  },
  contacts: {
    summary: 'Contacts with trust state and safety number',
    response: ok('Contacts', obj({ contacts: { type: 'array', items: ref('Contact') } }, ['contacts'])),
  },
  verify: {
    summary: 'Mark a contact verified after comparing safety numbers (also approves a changed identity)',
    params: obj({ userId: str('The contact') }, ['userId']),
    body: obj({ safetyNumber: str('The safety number compared out of band (spaces allowed)') }, ['safetyNumber']),
    response: ok('The contact, now verified', obj({ contact: ref('Contact') }, ['contact'])),
  },
  status: { summary: 'Broker connection, prekey stock, queue depths, dead letters', response: ok('Status', ref('Status')) },
  deadLetters: {
    summary: 'Messages the webhook gave up on, oldest first',
    querystring: obj({ limit: int(`At most this many (default and maximum ${MAX_ACK_IDS})`, { minimum: 1 }) }),
    response: ok('Dead letters', obj({ deadLetters: { type: 'array', items: ref('DeadLetter') }, total: int('How many there are') }, ['deadLetters', 'total'])),
  },
  redrive: {
    summary: 'Deliver dead letters to the webhook again (these ids, or all without messageIds)',
    body: obj({ messageIds: { type: 'array', items: { type: 'string' } } }),
    response: ok('The ids re-driven', obj({ messageIds: { type: 'array', items: { type: 'string' } } }, ['messageIds'])),
  },
  openapi: { summary: 'This document', response: { 200: { description: 'OpenAPI 3 document', type: 'object', additionalProperties: true }, ...errors } },
} as const;

const binary = { type: 'string', format: 'binary' } as const;

/** POST /v1/files and GET /v1/attachments/{attachmentId} (file-routes.ts). */
export const FILE_ROUTE_SCHEMAS = {
  upload: {
    summary: 'Send a file: the request body is its bytes, streamed (returns once it is sealed on disk and its message is in the outbox)',
    querystring: obj(
      {
        to: str('Recipient user id (or groupId)'),
        groupId: str('A group to send the file to instead of `to`'),
        fileName: str('The file\'s name as the recipient sees it (1 to 255 UTF-8 bytes, no control characters)'),
        contentType: str('MIME type (default application/octet-stream)'),
        size: int(`Bytes the body has (default: its Content-Length; absent for a chunked body: unknown); at most ${MAX_FILE_BYTES}`, { minimum: 0 }),
        idempotencyKey: str('As on POST /v1/messages: the same key with the same file returns the first messageId and sends nothing (also as the Idempotency-Key header)'),
      },
      ['fileName'],
    ),
    // The raw body is not validated (server.ts): the description is for the document.
    body: { content: { 'application/octet-stream': { schema: { ...binary, description: 'The file (any Content-Type is accepted)' } } } },
    response: ok(
      'Sealed on disk, its message durable in the outbox; the chunks follow (fileProgress events tell how far)',
      obj({ messageId: str('The message that carries the file'), attachmentId: str('The file\'s id (the recipient downloads it with it)') }, ['messageId', 'attachmentId']),
    ),
  },
  download: {
    summary: 'A received file\'s bytes (verified), from an offset or one Range to resume',
    description:
      'The ETag is the file\'s SHA-256 (quoted hex). One Range (bytes=A-B, bytes=A-, bytes=-N; with If-Range only while it names the ETag) answers 206 with Content-Range; a Range starting past the end is 416 RangeNotSatisfiable; several ranges or another unit are ignored (the whole file). ?offset= and a Range together are 400.',
    params: obj({ attachmentId: str('From the message\'s attachment (32 hex digits)') }, ['attachmentId']),
    querystring: obj({ offset: int('Start at this byte (default 0): resume a download cut short', { minimum: 0 }) }),
    response: {
      200: { description: 'The bytes from offset to the end, Content-Length long (a response cut off before its end is not the whole file)', content: { 'application/octet-stream': { schema: binary } } },
      206: { description: 'The bytes of the Range, as Content-Range says', content: { 'application/octet-stream': { schema: binary } } },
      ...errors,
    },
  },
} as const;

/** The `?to=USER` or `?group=GROUP` of the alert intakes. */
export const ALERT_TARGET_QUERY = obj({ to: str('Recipient user id'), group: str('Group id (send to this group instead of ?to)') });
export const ALERT_RESPONSE = ok('One message sent per notification', obj({ messageIds: { type: 'array', items: { type: 'string' } } }, ['messageIds']));
