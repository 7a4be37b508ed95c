/**
 * createBroker(config) builds the blind relay (Aedes 1.x) and returns { start, close,
 * reloadCertificates }; nothing listens until start(), nothing here reads argv, installs signal
 * handlers or exits. See acl.ts for the topic rules, authenticate.ts for the CONNECT proof,
 * listeners.ts for MQTT/TLS/WebSockets, ordered-enqueue.ts for the aedes#955 fix.
 */
import { Aedes } from 'aedes';
import type { AedesOptions } from 'aedes';
import { loadCrypto } from '../crypto/index.ts';
import { BrokerError } from './errors.ts';
import { levelProofNonces, memoryProofNonces, redisProofNonces } from './proof-nonces.ts';
import { createAuthenticate } from './authenticate.ts';
import { BrokerCounters, countQueuedMessages, type BrokerStats, type QueuedMessages } from './broker-stats.ts';
import { createAuthorizers } from './authorize.ts';
import { holdDeliveriesUntilConnack } from './connack-first.ts';
import type { BrokerConfig } from './config.ts';
import { PACKET_OVERHEAD_ALLOWANCE, resolveBrokerConfig } from './config.ts';
import { openListeners, type Endpoint, type Listening } from './listeners.ts';
import { orderEnqueueCompletion } from './ordered-enqueue.ts';
import type { EnqueueOrderStats, OrderedBroker } from './ordered-enqueue.ts';
import { orderUpdateCompletion } from './ordered-update.ts';
import { openPersistence } from './persistence.ts';
import type { OpenedPersistence } from './persistence.ts';
import type { CounterSource } from './message-ttl.ts';
import { createRelayLimits } from './relay-limits.ts';
import type { RelayLimits } from './relay-limits.ts';
import { loadTlsCredentials } from './tls-credentials.ts';

export interface BrokerAddress {
  /** mqtt://host:port (or mqtts:// with TLS), ready for mqtt.connect. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** ws://host:port (or wss://) of the WebSocket listener, if one was asked for. */
  readonly ws: Endpoint | null;
  /** The name this relay checks in every CONNECT proof. */
  readonly relayName: string;
}

export interface RelayBroker {
  /** Opens the persistence and listens; resolves once every listener accepts connections (port 0 → a free port). */
  start(): Promise<BrokerAddress>;
  /**
   * Reads the TLS certificate and key files again and serves them to new connections; open
   * connections keep theirs. A missing file or a mismatched pair throws a ConfigError and keeps the
   * old pair. Nothing to do without TLS.
   */
  reloadCertificates(): Promise<void>;
  /** Disconnects every client, stops listening, closes the database. Safe to call more than once. */
  close(): Promise<void>;
  /** Counters and gauges of this broker for its metrics (broker/metrics.ts), read when scraped. */
  readonly stats: BrokerStats;
}

interface Running {
  readonly aedes: Aedes;
  readonly listening: Listening;
  readonly opened: OpenedPersistence;
  readonly stopLimits: () => Promise<void>;
  readonly enqueues: EnqueueOrderStats;
  readonly queued: QueuedMessages;
}

export function createBroker(config: BrokerConfig): RelayBroker {
  const cfg = resolveBrokerConfig(config);
  const log = cfg.logger.child({ component: 'broker' });
  let running: Running | null = null;
  let starting = false;
  const counters = new BrokerCounters();
  const stats: BrokerStats = {
    get connectedClients() {
      return running?.aedes.connectedClients ?? 0;
    },
    publishes: counters.publishes,
    loginsRefused: counters.loginsRefused,
    get messagesExpired() {
      return counters.messagesExpired;
    },
    queuedMessages: () => running?.queued.count() ?? Promise.resolve(0),
  };

  async function start(): Promise<BrokerAddress> {
    if (starting || running !== null) throw new BrokerError('ConfigError', 'broker already started');
    starting = true;
    try {
      return await startOnce();
    } finally {
      starting = false;
    }
  }

  async function startOnce(): Promise<BrokerAddress> {
    const crypto = cfg.crypto ?? (await loadCrypto()).crypto; // sodium-native when it loads
    const credentials = cfg.tls === null ? null : await loadTlsCredentials(cfg.tls); // before opening anything
    const opened = await openPersistence(cfg);
    let aedes: Aedes | undefined;
    let limits: RelayLimits | undefined;
    try {
      limits = await createRelayLimits(cfg, opened, log);
      const queued = await countQueuedMessages(opened.persistence, opened.db, opened.redis);
      const { authorizePublish, authorizeSubscribe, authorizeForward } = createAuthorizers({
        topicPrefix: cfg.topicPrefix,
        maxPayloadBytes: cfg.maxPayloadBytes,
        logger: log,
        quota: limits.quota,
        expiry: limits.expiry,
        onPublish: counters.published,
        onExpired: counters.expired,
      });
      const nonceBounds = { maxEntries: cfg.replayCacheSize, maxPerIdentity: cfg.maxProofsPerIdentity, windowMs: cfg.maxAuthSkewMs };
      const options: AedesOptions = {
        // No fixed `id`: a durable queue keyed by a reused id is overwritten after a restart.
        persistence: opened.persistence,
        // Redis pub/sub between cluster nodes; undefined = Aedes' in-process emitter.
        ...(opened.mq === undefined ? {} : { mq: opened.mq }),
        authenticate: createAuthenticate({
          crypto,
          audience: cfg.relayName,
          maxSkewMs: cfg.maxAuthSkewMs,
          nonces:
            opened.redis !== null
              ? redisProofNonces(opened.redis, nonceBounds)
              : opened.db !== null
                ? levelProofNonces(opened.db, nonceBounds)
                : memoryProofNonces(nonceBounds, cfg.now()),
          now: cfg.now,
          logger: log,
          onRefused: counters.loginRefused,
        }) as unknown as AedesOptions['authenticate'],
        authorizePublish: authorizePublish as unknown as AedesOptions['authorizePublish'],
        authorizeSubscribe: authorizeSubscribe as unknown as AedesOptions['authorizeSubscribe'],
        authorizeForward: authorizeForward as unknown as AedesOptions['authorizeForward'],
      };
      aedes = await Aedes.createBroker(options);
      holdDeliveriesUntilConnack(aedes); // a returning session's CONNACK before any PUBLISH (connack-first.ts)
      await opened.subscribed(); // cluster: takeovers and heartbeats reach this node from now on
      const enqueues = orderEnqueueCompletion(aedes as unknown as OrderedBroker, opened.persistence);
      orderUpdateCompletion(opened.persistence);
      limits.attach(aedes as unknown as CounterSource);
      aedes.on('clientReady', (client) => log.debug({ userId: client.id }, 'client connected'));
      aedes.on('clientDisconnect', (client) => log.debug({ userId: client.id }, 'client disconnected'));
      aedes.on('clientError', (client, err) => log.debug({ userId: client.id, err: err.message }, 'client error'));
      aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error'));
      aedes.on('error' as 'closed', (err?: unknown) => log.error({ err }, 'broker error'));

      const broker = aedes;
      const listening = await openListeners({
        host: cfg.host,
        port: cfg.port,
        wsPort: cfg.wsPort,
        tls: credentials,
        maxFrameBytes: cfg.maxPayloadBytes + PACKET_OVERHEAD_ALLOWANCE,
        logger: log,
        // Looked up at each connection: holdDeliveriesUntilConnack replaced aedes.handle.
        accept: (stream, req) => broker.handle(stream, req),
      });
      running = { aedes, listening, opened, stopLimits: limits.stop, enqueues, queued };
      const { mqtt, ws } = listening;
      log.info({ mqtt: mqtt.url, ws: ws?.url, relayName: cfg.relayName, persistence: cfg.persistence }, 'broker listening');
      return { url: mqtt.url, host: mqtt.host, port: mqtt.port, ws, relayName: cfg.relayName };
    } catch (e) {
      if (aedes !== undefined) await new Promise<void>((resolve) => aedes?.close(() => resolve()));
      await limits?.stop();
      await opened.close();
      throw e;
    }
  }

  async function close(): Promise<void> {
    const r = running;
    if (r === null) return;
    running = null;
    await new Promise<void>((resolve) => r.aedes.close(() => resolve()));
    await r.listening.close(); // and connections that never completed CONNECT
    // Aedes PUBACKs before it stores: let publishes already acknowledged reach the queue first.
    await r.enqueues.idle();
    await r.stopLimits();
    await r.opened.close();
    log.info('broker closed');
  }

  async function reloadCertificates(): Promise<void> {
    const r = running;
    if (cfg.tls === null || r === null) return;
    const credentials = await loadTlsCredentials(cfg.tls); // throws, keeping the old pair, if unusable
    r.listening.setCredentials(credentials);
    log.info({ certFile: cfg.tls.certFile }, 'TLS certificate reloaded');
  }

  return { start, close, reloadCertificates, stats };
}
