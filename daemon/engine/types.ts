/**
 * The engine's vocabulary and what a running daemon offers its adapters (the gRPC server today; an
 * HTTP server or an in-process caller tomorrow). Errors thrown are CodedErrors of the engine
 * (errors.ts), the relay client, the store or the protocol core; the adapters map codes to their own
 * statuses (daemon/api/status-codes.ts):
 *  - unknown peer (no contact, no bundle):        EngineError('UnknownPeer')
 *  - changed identity not yet approved:            TrustError('UntrustedIdentity')
 *  - safety number given to verifyContact differs: EngineError('SafetyNumberMismatch')
 *  - idempotency key reused for another message:   EngineError('IdempotencyConflict')
 *  - broker unreachable (when it matters):         RelayError('BrokerUnavailable')
 *  - starting / shutting down:                     EngineError('NotReady')
 *  - too many events for a subscriber's replay:     EngineError('SlowConsumer')
 * Adapters validate every request before calling: user ids are parsed, bodies are 1..
 * MAX_MESSAGE_BODY_BYTES (core/content.ts) bytes, strings are bounded.
 */
import type { UserId } from '../../core/user-id.ts';

export type TrustState = 'unverified' | 'verified' | 'changed';

export interface Identity {
  userId: UserId;
  /** Ed25519 identity public key (32 bytes). */
  identityKey: Uint8Array;
  /** This user's half of safety numbers (digits), for display. */
  fingerprint: string;
}

export interface Contact {
  userId: UserId;
  identityKey: Uint8Array;
  trust: TrustState;
  /** Digits both sides compare out of band (same on both sides). */
  safetyNumber: string;
  /** When the contact's identity changed and awaits approval: the new key. */
  pendingIdentityKey?: Uint8Array;
}

/** The file a message carries (daemon/engine/files/): stored and verified before the message is shown. */
export interface AttachmentInfo {
  /** hex of the file id: what downloadAttachment takes. */
  attachmentId: string;
  fileName: string;
  contentType: string;
  size: number;
  /** SHA-256 of the plaintext (32 bytes). */
  sha256: Uint8Array;
}

export interface InboundMessage {
  messageId: string;
  from: UserId;
  body: Uint8Array;
  contentType: string;
  /** ms since epoch, as claimed by the sender (inside the encryption). */
  sentAt: number;
  /** ms since epoch, when this daemon stored it. */
  receivedAt: number;
  /** Per-receiver cursor: strictly increasing in the order messages were stored. */
  cursor: number;
  /** The group it was sent to (26 characters); absent for a direct message. */
  groupId?: string;
  /** Present when the message carries a file (its body is then empty). */
  attachment?: AttachmentInfo;
}

/** A group as this daemon knows it: the last membership version it applied. */
export interface GroupInfo {
  groupId: string;
  name: string;
  owner: UserId;
  /** owner included, in the membership's canonical order */
  members: UserId[];
  version: number;
}

export type DeliveryState = 'queued' | 'sent' | 'delivered' | 'failed';

export type DaemonEvent =
  | { kind: 'message'; message: InboundMessage }
  | { kind: 'delivery'; messageId: string; to: UserId; state: DeliveryState; at: number }
  | { kind: 'identityChanged'; userId: UserId; newIdentityKey: Uint8Array; at: number }
  /** A group changed (created with this daemon, it was added, any later change); removed: it is out. */
  | { kind: 'groupChanged'; group: GroupInfo; removed: boolean; at: number }
  | FileProgressEvent;

/** How far a file transfer is, either way (live only: not replayed). */
export interface FileProgressEvent {
  kind: 'fileProgress';
  direction: 'send' | 'receive';
  /** The message that carries the file. */
  messageId: string;
  attachmentId: string;
  peer: UserId;
  bytesDone: number;
  bytesTotal: number;
  state: 'transferring' | 'complete' | 'failed';
  /** A file to or from a group: the group (`peer` is then the member, or the sender). */
  groupId?: string;
  at: number;
}

export interface Status {
  brokerConnected: boolean;
  /** The relay URL in use (with failover, the one connected to or being tried). */
  brokerUrl: string;
  /** Why the last connection attempt failed, e.g. "certificate rejected (CERT_HAS_EXPIRED)"; absent once connected. */
  brokerError?: string;
  oneTimePrekeys: number;
  signedPrekeyAgeMs: number;
  outboxDepth: number;
  inboxDepth: number;
  contacts: number;
  /** First messages from unknown senders refused since start: the contact table was full (contacts.ts). */
  contactsRefused: number;
  /** Messages refused unstored since start: the inbox was full (inbox.ts); their senders resend them. */
  messagesRefused: number;
  /** Idempotency records kept (global and reply-scoped; idempotency.ts). */
  idempotencyRecords: number;
  /** Unacked messages the webhook gave up on after its retry budget (dead-letters.ts). */
  deadLetters: number;
  /**
   * Messages the webhook has still to deliver (read and not yet acked or given up on); 0 without a
   * webhook. The engine reports 0: the webhook adapter (daemon/http/webhook-backend.ts) fills it in.
   */
  webhookPending: number;
}

/** An unacked message the webhook stopped retrying (dead-letters.ts). */
export interface DeadLetter {
  /** The message's shown id (InboundMessage.messageId). */
  messageId: string;
  from: UserId;
  cursor: number;
  /** Delivery attempts made. */
  attempts: number;
  /** The last attempt's failure, e.g. "HTTP 503" or "ECONNREFUSED". */
  lastError: string;
  /** ms since epoch: the first attempt, and when the webhook gave up. */
  firstAttemptAt: number;
  deadAt: number;
}

export type DeadLetterInput = Pick<DeadLetter, 'attempts' | 'lastError' | 'firstAttemptAt'>;

/** Exactly one of `to` and `groupId`. */
export type SendRequest = DirectSendRequest | GroupSendRequest;

export interface GroupSendRequest {
  /** Group.group_id (26 characters, parsed by the engine) */
  groupId: string;
  to?: undefined;
  body: Uint8Array;
  contentType?: string;
  idempotencyKey?: string;
  replyTo?: string;
}

export interface DirectSendRequest {
  to: UserId;
  groupId?: undefined;
  body: Uint8Array;
  contentType?: string;
  idempotencyKey?: string;
  /**
   * The shown id of the inbound message this answers. With an idempotency key, the key is scoped
   * to that message and its record lives only until the message is acked (idempotency.ts).
   */
  replyTo?: string;
}

export interface SendFileRequest {
  /** The recipient; exactly one of `to` and `groupId`. */
  to?: UserId;
  /** A group: the file is sealed once and goes to every member but this daemon. */
  groupId?: string;
  /** As Send's: the same key again returns the first message id and sends nothing twice. */
  idempotencyKey?: string;
  fileName: string;
  contentType?: string;
  /** Announced size; 0 or absent = unknown. A different actual size is refused. */
  size?: number;
}

/** How a subscriber paces the replay (the live part is never held back). */
export interface SubscribeOptions {
  /** Awaited before each replayed message is handed on: resolve when the consumer has room. */
  waitForRoom?: () => Promise<void> | void;
  /** Aborting abandons the replay; subscribe then resolves with a no-op unsubscribe. */
  signal?: AbortSignal;
}

export interface DaemonApi {
  getIdentity(): Promise<Identity>;
  send(req: SendRequest): Promise<{ messageId: string }>;
  /**
   * Subscribes to events: first every unacked stored message with cursor > afterCursor (replay),
   * then live events. Returns an unsubscribe function. Every replayed message is passed to onEvent
   * before the returned promise resolves (the API then tells the client the replay is complete);
   * onEvent must not be called after unsubscribe. The replay reads the store a page at a time and
   * waits for `options.waitForRoom` before each message, so a slow consumer holds it back instead of
   * filling memory; it rejects with EngineError('SlowConsumer') if too many other events arrive
   * meanwhile.
   */
  subscribe(afterCursor: number, onEvent: (e: DaemonEvent) => void, options?: SubscribeOptions): Promise<() => void>;
  ack(messageIds: readonly string[]): Promise<void>;
  listContacts(): Promise<Contact[]>;
  /** safetyNumber is digits only (the API strips the spaces people type). */
  verifyContact(userId: UserId, safetyNumber: string): Promise<Contact>;
  getStatus(): Promise<Status>;
  /** Dead letters, oldest first: at most `limit` of them, and how many there are in all. */
  listDeadLetters(limit: number): Promise<{ deadLetters: DeadLetter[]; total: number }>;
  /**
   * Clears the dead-letter marks of these messages (all of them when the list is empty) and
   * resolves with the ids cleared, once that is durable; ids that are not dead letters are ignored.
   * The webhook adapter then delivers those messages again.
   */
  redriveDeadLetters(messageIds: readonly string[]): Promise<string[]>;
  /**
   * For the webhook adapter: marks an unacked message a dead letter (durable when it resolves). A
   * message that is no longer unacked is ignored.
   */
  addDeadLetter(message: Pick<InboundMessage, 'messageId' | 'from'>, info: DeadLetterInput): Promise<void>;
  /**
   * Sends a file: the bytes are read from `source` as they come (never held whole) and sealed to
   * disk; resolves with the message id once the file's message is durable (the chunks follow as the
   * recipient stores them; fileProgress events tell how far). Absent on backends without files.
   */
  sendFile?(header: SendFileRequest, source: AsyncIterable<Uint8Array>): Promise<{ messageId: string; attachmentId: string }>;
  /** A received attachment's bytes from `offset`, checked again as they are read (FileTransferError('AttachmentNotFound')). */
  downloadAttachment?(attachmentId: string, offset: number): AsyncIterable<Uint8Array>;
  /** A stored attachment as its message carries it; undefined when there is none (unknown, incomplete, or deleted by the ack). */
  findAttachment?(attachmentId: string): Promise<AttachmentInfo | undefined>;
  /** Creates a group owned by this daemon with `members` (not including itself). */
  createGroup(name: string, members: readonly UserId[]): Promise<GroupInfo>;
  /** Owner only (GroupError NotGroupOwner); unknown group: EngineError NotFound. */
  addMembers(groupId: string, members: readonly UserId[]): Promise<GroupInfo>;
  removeMembers(groupId: string, members: readonly UserId[]): Promise<GroupInfo>;
  leaveGroup(groupId: string): Promise<void>;
  /** A new sender key in the group now (on demand); the next group message distributes it. */
  rotateGroupKey(groupId: string): Promise<{ keyId: number }>;
  listGroups(): Promise<GroupInfo[]>;
}
