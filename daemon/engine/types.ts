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
}

export type DeliveryState = 'queued' | 'sent' | 'delivered' | 'failed';

export type DaemonEvent =
  | { kind: 'message'; message: InboundMessage }
  | { kind: 'delivery'; messageId: string; to: UserId; state: DeliveryState; at: number }
  | { kind: 'identityChanged'; userId: UserId; newIdentityKey: Uint8Array; at: number };

export interface Status {
  brokerConnected: boolean;
  brokerUrl: string;
  oneTimePrekeys: number;
  signedPrekeyAgeMs: number;
  outboxDepth: number;
  inboxDepth: number;
  contacts: number;
}

export interface SendRequest {
  to: UserId;
  body: Uint8Array;
  contentType?: string;
  idempotencyKey?: string;
}

export interface DaemonApi {
  getIdentity(): Promise<Identity>;
  send(req: SendRequest): Promise<{ messageId: string }>;
  /**
   * Subscribes to events: first every unacked stored message with cursor > afterCursor (replay),
   * then live events. Returns an unsubscribe function. Every replayed message is passed to onEvent
   * before the returned promise resolves (the API then tells the client the replay is complete);
   * onEvent must not be called after unsubscribe.
   */
  subscribe(afterCursor: number, onEvent: (e: DaemonEvent) => void): Promise<() => void>;
  ack(messageIds: readonly string[]): Promise<void>;
  listContacts(): Promise<Contact[]>;
  /** safetyNumber is digits only (the API strips the spaces people type). */
  verifyContact(userId: UserId, safetyNumber: string): Promise<Contact>;
  getStatus(): Promise<Status>;
}
