/**
 * createBroker(config) builds the blind relay (Aedes 1.x) and returns { start, close }; nothing
 * listens until start(), nothing here reads argv or exits. See acl.ts for the topic rules,
 * authenticate.ts for the CONNECT proof, ordered-enqueue.ts for the aedes#955 fix.
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { Aedes } from 'aedes';
import type { AedesOptions } from 'aedes';
import { loadCrypto } from '../crypto/index.ts';
import { BrokerError } from './errors.ts';
import { levelProofNonces, memoryProofNonces, redisProofNonces } from './proof-nonces.ts';
import { createAuthenticate } from './authenticate.ts';
import { createAuthorizers } from './authorize.ts';
import { holdDeliveriesUntilConnack } from './connack-first.ts';
import type { BrokerConfig } from './config.ts';
import { PACKET_OVERHEAD_ALLOWANCE, resolveBrokerConfig } from './config.ts';
import { guardFrames } from './frame-guard.ts';
import { orderEnqueueCompletion } from './ordered-enqueue.ts';
import type { EnqueueOrderStats, OrderedBroker } from './ordered-enqueue.ts';
import { orderUpdateCompletion } from './ordered-update.ts';
import { openPersistence } from './persistence.ts';
import type { OpenedPersistence } from './persistence.ts';
import type { CounterSource } from './message-ttl.ts';
import { createRelayLimits } from './relay-limits.ts';
import type { RelayLimits } from './relay-limits.ts';

export interface BrokerAddress {
  /** mqtt://host:port, ready for mqtt.connect. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

export interface RelayBroker {
  /** Opens the persistence and listens; resolves with the bound address (port 0 → a free port). */
  start(): Promise<BrokerAddress>;
  /** Disconnects every client, stops listening, closes the database. Safe to call more than once. */
  close(): Promise<void>;
}

interface Running {
  readonly aedes: Aedes;
  readonly server: net.Server;
  readonly sockets: Set<Socket>;
  readonly opened: OpenedPersistence;
  readonly stopLimits: () => Promise<void>;
  readonly enqueues: EnqueueOrderStats;
}

function listen(server: net.Server, port: number, host: string): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

export function createBroker(config: BrokerConfig): RelayBroker {
  const cfg = resolveBrokerConfig(config);
  const log = cfg.logger.child({ component: 'broker' });
  let running: Running | null = null;
  let starting = false;

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
    const opened = await openPersistence(cfg);
    let aedes: Aedes | undefined;
    let limits: RelayLimits | undefined;
    try {
      limits = await createRelayLimits(cfg, opened, log);
      const { authorizePublish, authorizeSubscribe, authorizeForward } = createAuthorizers({
        topicPrefix: cfg.topicPrefix,
        maxPayloadBytes: cfg.maxPayloadBytes,
        logger: log,
        quota: limits.quota,
        expiry: limits.expiry,
      });
      const options: AedesOptions = {
        // No fixed `id`: a durable queue keyed by a reused id is overwritten after a restart.
        persistence: opened.persistence,
        // Redis pub/sub between cluster nodes; undefined = Aedes' in-process emitter.
        ...(opened.mq === undefined ? {} : { mq: opened.mq }),
        authenticate: createAuthenticate({
          crypto,
          audience: cfg.audience,
          maxSkewMs: cfg.maxAuthSkewMs,
          nonces:
            opened.redis !== null
              ? redisProofNonces(opened.redis, cfg.maxAuthSkewMs)
              : opened.db !== null
                ? levelProofNonces(opened.db, cfg.replayCacheSize, cfg.maxAuthSkewMs)
                : memoryProofNonces(cfg.replayCacheSize, cfg.maxAuthSkewMs, cfg.now()),
          now: cfg.now,
          logger: log,
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

      const sockets = new Set<Socket>();
      const broker = aedes;
      const maxFrame = cfg.maxPayloadBytes + PACKET_OVERHEAD_ALLOWANCE;
      const server = net.createServer((socket) => {
        // Nagle + the client's delayed ACK held the second of two small writes (SUBACK then the
        // retained bundle; PUBACK then a delivery) for ~40 ms: a bundle fetch took 45 ms, 1 ms without.
        socket.setNoDelay(true);
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        guardFrames(socket, maxFrame, () => log.info({ limit: maxFrame }, 'connection cut: packet over the size limit'));
        broker.handle(socket);
      });
      const address = await listen(server, cfg.port, cfg.host);
      running = { aedes, server, sockets, opened, stopLimits: limits.stop, enqueues };
      const host = address.address;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      log.info({ host, port: address.port, persistence: cfg.persistence }, 'broker listening');
      return { url: `mqtt://${urlHost}:${address.port}`, host, port: address.port };
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
    const serverClosed = new Promise<void>((resolve) => r.server.close(() => resolve()));
    await new Promise<void>((resolve) => r.aedes.close(() => resolve()));
    for (const s of r.sockets) s.destroy(); // connections that never completed CONNECT
    await serverClosed;
    // Aedes PUBACKs before it stores: let publishes already acknowledged reach the queue first.
    await r.enqueues.idle();
    await r.stopLimits();
    await r.opened.close();
    log.info('broker closed');
  }

  return { start, close };
}
