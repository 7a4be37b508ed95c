/**
 * createDaemon's configuration. Only dataDir, brokerUrl and logger are required; the rest has
 * production defaults, and tests inject a clock, an in-memory store, a fake relay and short timers.
 */
import type { Logger } from 'pino';
import type { Crypto } from '../../core/crypto.ts';
import type { UserId } from '../../core/user-id.ts';
import type { RelayCredentials } from '../relay/mqtt-relay.ts';
import type { RelayTransport } from '../relay/transport.ts';
import type { Store } from '../store/store.ts';
import type { ScryptParams } from '../store/store-key.ts';
import { DEFAULT_CONTACT_IDLE_RETENTION_MS, MAX_CONTACTS } from './contacts.ts';
import { DEFAULT_IDEMPOTENCY_RETENTION_MS, MAX_IDEMPOTENCY_RECORDS } from './idempotency.ts';
import { MAX_INBOX_MESSAGES } from './inbox.ts';
import { DEFAULT_OUTBOX_POLICY, type OutboxPolicy } from './outbox.ts';
import type { FileOptions } from './files/file-options.ts';

export interface EngineTiming {
  /** How long start() waits for the first broker connection before going on offline (ms). */
  connectWaitMs: number;
  /** Receipts for a peer are coalesced over this delay (ms): one receipt covers a burst. */
  receiptDelayMs: number;
  /**
   * While a peer keeps sending, receipts to it leave at most this often (ms): a stream gets one
   * receipt per interval, each covering everything before it, instead of one per receiptDelayMs.
   * A message after a pause longer than this is answered after receiptDelayMs as before (sender.ts).
   */
  receiptIntervalMs: number;
  /** At most one session reset per peer in this interval (ms); resets answer only TooFarAhead (receiver.ts). */
  resetIntervalMs: number;
  /**
   * At most one fresh session per peer in this interval for messages that stay unacknowledged (ms):
   * a restored peer (outbox stuckAfterPublishes) or a handshake that lost its prekeys (below).
   */
  reestablishIntervalMs: number;
  /**
   * Messages sent as a handshake still without receipt this long after the broker took them (ms):
   * the initiator re-fetches the peer's signed bundle to see whether the handshake's prekeys are gone
   * (a lost one-time-prekey race) and, if so, starts a fresh session and re-sends on it.
   */
  handshakeAnswerWaitMs: number;
  /** At most one such bundle check per peer in this interval (ms): each costs one bundle fetch. */
  handshakeCheckIntervalMs: number;
  /** Prekey maintenance period (ms): rotate, refill, republish. */
  maintenanceMs: number;
  /** The bundle is republished at least this often, so it never goes stale (ms). */
  bundleRepublishMs: number;
  /** A consumed one-time prekey triggers a republish after this debounce (ms). */
  bundleDebounceMs: number;
  /** Held-back messages waiting for a hole are released after this (ms) (transcript.ts). */
  transcriptWaitMs: number;
  /** Idempotency records (outside a reply scope) are kept at least this long (ms) (idempotency.ts). */
  idempotencyRetentionMs: number;
  /** Unverified contacts with no message either way for this long are forgotten (ms) (contacts.ts). */
  contactIdleRetentionMs: number;
  /** Skipped message keys of quiet sessions are expired at start and this often (ms) (skipped-key-sweep.ts). */
  skippedKeySweepMs: number;
  /**
   * A hole in a group sender's seq log (a later message arrived, an earlier one did not) this long
   * makes the member ask that sender for what it lacks (ms) (groups/group-holes.ts); checked on the
   * outbox's tick.
   */
  groupHoleWaitMs: number;
  outbox: OutboxPolicy;
}

export const DEFAULT_TIMING: EngineTiming = {
  connectWaitMs: 10_000,
  receiptDelayMs: 25,
  receiptIntervalMs: 100,
  resetIntervalMs: 60_000,
  reestablishIntervalMs: 3600_000,
  handshakeAnswerWaitMs: 5_000,
  handshakeCheckIntervalMs: 60_000,
  maintenanceMs: 3600_000,
  bundleRepublishMs: 24 * 3600_000,
  bundleDebounceMs: 1_000,
  transcriptWaitMs: 2 * 60_000,
  idempotencyRetentionMs: DEFAULT_IDEMPOTENCY_RETENTION_MS,
  contactIdleRetentionMs: DEFAULT_CONTACT_IDLE_RETENTION_MS,
  skippedKeySweepMs: 3600_000,
  groupHoleWaitMs: 5_000,
  outbox: DEFAULT_OUTBOX_POLICY,
};

/** Sizes the daemon keeps its tables to (named constants in their files; tests use small ones). */
export interface EngineLimits {
  /** Contacts before first messages from unknown senders are refused (contacts.ts). */
  maxContacts: number;
  /** Unacked inbox messages before new ones are refused (inbox.ts). */
  maxInboxMessages: number;
  /** Global idempotency records kept (idempotency.ts). */
  maxIdempotencyRecords: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  maxContacts: MAX_CONTACTS,
  maxInboxMessages: MAX_INBOX_MESSAGES,
  maxIdempotencyRecords: MAX_IDEMPOTENCY_RECORDS,
};

export interface DaemonConfig {
  /** Where the store (and the key file or salt) live; created with mode 0700. */
  dataDir: string;
  /**
   * The relay: mqtt://, mqtts://, ws:// or wss://HOST:PORT, or several nodes of one relay cluster,
   * comma-separated (the daemon fails over between them).
   */
  brokerUrl: string;
  /** PEM CA certificate(s) trusted for mqtts:// and wss:// instead of the system roots (--broker-ca). */
  brokerCa?: Buffer;
  logger: Logger;
  /** At-rest key from a passphrase (scrypt) instead of the key file. */
  passphrase?: string | Uint8Array;
  /** At-rest key file (default DATA/store.key, created with mode 0600). */
  keyFile?: string;
  /** Relay login: 'proof' (default, ratchetd broker) or a fixed username/password (a plain broker;
   *  `{}` = anonymous; a password without a username logs in with the user id as username). */
  relayAuth?: 'proof' | RelayCredentials;
  /** Audience of the relay CONNECT proof: the relay's name (--relay-name on both sides; default "ratchetd"). */
  relayAudience?: string;
  topicPrefix?: string;
  clock?: () => number;
  crypto?: Crypto;
  /** Tests: an open store instead of the LevelDB one in dataDir. */
  openStore?: (crypto: Crypto) => Promise<Store>;
  /** Tests: a relay transport instead of mqtt.js. */
  relay?: (userId: UserId) => RelayTransport;
  scrypt?: ScryptParams;
  timing?: Partial<EngineTiming>;
  limits?: Partial<EngineLimits>;
  /** File transfers: window, timeouts, quota, retention (files/file-options.ts). */
  files?: Partial<FileOptions>;
  /**
   * Called once if a store write fails after the engine went on with it in memory: the engine has
   * stopped (relay closed, API calls refused). The entry file should exit non-zero so a supervisor
   * restarts the daemon, which recovers from the disk.
   */
  onFatal?: (err: unknown) => void;
}
