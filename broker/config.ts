/**
 * Broker configuration: every option with its default and the reason for it. The CLI (or a test)
 * builds a BrokerConfig; resolveBrokerConfig fills defaults and refuses nonsense with a ConfigError.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { pino } from 'pino';
import type { Crypto } from '../core/crypto.ts';
import { BrokerError } from './errors.ts';
import { RELAY_AUTH_MAX_SKEW_MS } from '../core/limits.ts';
import { DEFAULT_RELAY_AUDIENCE, MAX_AUDIENCE_BYTES } from '../core/relay-auth.ts';
import { DEFAULT_TOPIC_PREFIX } from '../core/topics.ts';
import type { TlsFiles } from './tls-credentials.ts';

/**
 * Largest PUBLISH payload accepted (bytes). The largest padded body bucket is 256 KiB; the envelope
 * (header, tags, X3DH prekey message) adds well under 44 KiB, so 300 KiB leaves room and refuses the rest.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 300 * 1024;
/** Bytes a packet may carry beyond its payload (fixed header, topic, message id) before the framing guard cuts it. */
export const PACKET_OVERHEAD_ALLOWANCE = 1024;
/**
 * Proof nonces remembered exactly in memory, at most (~20 MB); past it the LevelDB store answers
 * from disk and the memory store from a fixed-size filter (proof-nonces.ts): no login is refused for lack of room.
 */
export const DEFAULT_REPLAY_CACHE_SIZE = 100_000;
/**
 * Logins of one identity within the proof window (2 minutes), at most. A daemon logs in once per
 * connection and backs off exponentially between failed attempts; 64 in two minutes is a loop or a
 * stolen key, and throttling it must not cost anyone else their login.
 */
export const DEFAULT_MAX_PROOFS_PER_IDENTITY = 64;

export type PersistenceKind = 'level' | 'memory' | 'redis';

export interface BrokerConfig {
  /** Interface to listen on. Default 127.0.0.1 (loopback); a public relay sets it explicitly. */
  host?: string;
  /** TCP port; 0 (default) binds a free port, reported by start(). */
  port?: number;
  /** Data directory; LevelDB persistence lives in dataDir/broker. Required for 'level'. */
  dataDir?: string;
  /**
   * 'level' (default: queues and retained bundles survive restarts), 'memory' (tests, benchmarks) or
   * 'redis' (the default when redisUrl is set: several broker nodes share queues, bundles and
   * subscriptions through one Redis, see redis-persistence.ts).
   */
  persistence?: PersistenceKind;
  /** redis://[user:password@]HOST:PORT[/db] of the Redis shared by the broker nodes of a cluster. */
  redisUrl?: string;
  /**
   * This relay's name (the CONNECT proof's audience): daemons sign it into every proof, so a proof
   * made for another relay is refused. Default "ratchetd" (default flags interoperate); give each
   * relay, or each cluster (all its nodes), its own.
   */
  relayName?: string;
  /**
   * TLS: the certificate chain and key files (PEM). Then `port` serves only mqtts and the WebSocket
   * listener only wss, and logins must carry a proof bound to their TLS connection. The files are
   * read again by reloadCertificates() (SIGHUP).
   */
  tls?: TlsFiles;
  /** Also serve MQTT over WebSockets on this port (any path); 0 = a free port. Default: none. */
  wsPort?: number;
  /** Topic prefix of the relay layout ({prefix}/bundle/{id}, {prefix}/inbox/{id}). */
  topicPrefix?: string;
  /** Largest PUBLISH payload in bytes; larger publishes are refused (connection closed, no PUBACK). */
  maxPayloadBytes?: number;
  /** Accepted clock skew of CONNECT proofs (ms); nonces are remembered this long. */
  maxAuthSkewMs?: number;
  /** Most proof nonces remembered exactly in memory (bounds the replay cache's memory). */
  replayCacheSize?: number;
  /** Most logins of one identity within the proof window; more are refused (CONNACK 3) until older ones age out. */
  maxProofsPerIdentity?: number;
  /**
   * Per-recipient quota: most QoS 1 messages queued (or in flight) for one inbox. A publish to a full
   * inbox is acknowledged and discarded (logged; the publisher's other traffic goes on); the sender's
   * outbox keeps it until an encrypted receipt arrives and resends it, so it arrives after the
   * recipient drains. Per process for level/memory, shared by all nodes with redis. 0 = no quota.
   */
  maxQueuedPerClient?: number;
  /**
   * Message TTL (ms): an inbox message still queued this long after it reached the broker is deleted
   * instead of delivered (the sender's outbox retries until a receipt arrives). 0 or undefined = none.
   */
  messageTtlMs?: number;
  /** pino logger (payloads are never logged). Default: silent. */
  logger?: Logger;
  /** Crypto implementation; default: libsodium (createSodiumCrypto). */
  crypto?: Crypto;
  /** Clock in ms; default Date.now. Tests inject one. */
  now?: () => number;
}

export interface ResolvedBrokerConfig {
  readonly host: string;
  readonly port: number;
  readonly persistence: PersistenceKind;
  /** dataDir/broker, or null for 'memory' and 'redis'. */
  readonly levelPath: string | null;
  /** The cluster's Redis ('redis' only). */
  readonly redisUrl: string | null;
  readonly relayName: string;
  readonly tls: TlsFiles | null;
  readonly wsPort: number | null;
  readonly topicPrefix: string;
  readonly maxPayloadBytes: number;
  readonly maxAuthSkewMs: number;
  readonly replayCacheSize: number;
  readonly maxProofsPerIdentity: number;
  readonly maxQueuedPerClient: number;
  readonly messageTtlMs: number;
  readonly logger: Logger;
  readonly crypto: Crypto | undefined;
  readonly now: () => number;
}

export class BrokerConfigError extends BrokerError {
  constructor(message: string) {
    super('ConfigError', message);
  }
}

function nonNegativeInt(value: number | undefined, fallback: number, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new BrokerConfigError(`${name} must be an integer in 0..${max}`);
  return v;
}

function parseRedisUrl(text: string | undefined, persistence: PersistenceKind): string | null {
  if (persistence !== 'redis') {
    if (text !== undefined) throw new BrokerConfigError(`redisUrl needs persistence 'redis', not '${persistence}'`);
    return null;
  }
  if (text === undefined || text === '') throw new BrokerConfigError("persistence 'redis' needs a redisUrl");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BrokerConfigError('redisUrl must be a URL like redis://127.0.0.1:6379');
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new BrokerConfigError('redisUrl must be redis://HOST:PORT or rediss://HOST:PORT');
  }
  return text;
}

export function resolveBrokerConfig(config: BrokerConfig): ResolvedBrokerConfig {
  const persistence = config.persistence ?? (config.redisUrl === undefined ? 'level' : 'redis');
  if (persistence !== 'level' && persistence !== 'memory' && persistence !== 'redis') {
    throw new BrokerConfigError("persistence must be 'level', 'memory' or 'redis'");
  }
  const redisUrl = parseRedisUrl(config.redisUrl, persistence);
  if (persistence === 'level' && (config.dataDir === undefined || config.dataDir === '')) {
    throw new BrokerConfigError('dataDir is required with level persistence');
  }
  const topicPrefix = config.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  if (topicPrefix === '' || /[+#\u0000]/.test(topicPrefix) || topicPrefix.startsWith('$') || topicPrefix.endsWith('/')) {
    throw new BrokerConfigError('topicPrefix must be non-empty, without wildcards, not start with $ or end with /');
  }
  const relayName = config.relayName ?? DEFAULT_RELAY_AUDIENCE;
  if (relayName.length === 0 || Buffer.byteLength(relayName) > MAX_AUDIENCE_BYTES) {
    throw new BrokerConfigError(`relayName must be 1..${MAX_AUDIENCE_BYTES} bytes`);
  }
  const tls = config.tls ?? null;
  if (tls !== null && (tls.certFile === '' || tls.keyFile === '')) throw new BrokerConfigError('tls needs a certFile and a keyFile');
  const maxProofsPerIdentity = nonNegativeInt(config.maxProofsPerIdentity, DEFAULT_MAX_PROOFS_PER_IDENTITY, 'maxProofsPerIdentity');
  if (maxProofsPerIdentity === 0) throw new BrokerConfigError('maxProofsPerIdentity must be positive');
  const maxPayloadBytes = nonNegativeInt(config.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES, 'maxPayloadBytes', 256 * 1024 * 1024 - 2048);
  if (maxPayloadBytes === 0) throw new BrokerConfigError('maxPayloadBytes must be positive');
  return {
    host: config.host ?? '127.0.0.1',
    port: nonNegativeInt(config.port, 0, 'port', 65535),
    persistence,
    levelPath: persistence === 'level' ? path.join(config.dataDir as string, 'broker') : null,
    redisUrl,
    relayName,
    tls,
    wsPort: config.wsPort === undefined ? null : nonNegativeInt(config.wsPort, 0, 'wsPort', 65535),
    topicPrefix,
    maxPayloadBytes,
    maxAuthSkewMs: nonNegativeInt(config.maxAuthSkewMs, RELAY_AUTH_MAX_SKEW_MS, 'maxAuthSkewMs'),
    replayCacheSize: nonNegativeInt(config.replayCacheSize, DEFAULT_REPLAY_CACHE_SIZE, 'replayCacheSize'),
    maxProofsPerIdentity,
    maxQueuedPerClient: nonNegativeInt(config.maxQueuedPerClient, 0, 'maxQueuedPerClient'),
    messageTtlMs: nonNegativeInt(config.messageTtlMs, 0, 'messageTtlMs'),
    logger: config.logger ?? pino({ level: 'silent' }),
    crypto: config.crypto,
    now: config.now ?? Date.now,
  };
}
