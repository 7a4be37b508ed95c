/**
 * The cluster storage: several broker nodes share one Redis (issue 5). aedes-persistence-redis 12
 * keeps subscriptions, retained bundles and per-client queues there; mqemitter-redis carries live
 * publishes between the nodes (Redis pub/sub), so alice on node A reaches bob on node B, a bundle
 * retained through A is read through B, and a node that dies loses nothing that reached Redis.
 *
 * Deviations from the stock setup, each for a measured reason (test/relay-cluster.test.ts):
 * - maxSessionDelivery: stock delivers at most 1001 queued messages per CONNECT and holds the rest
 *   until the next one. We deliver up to max(2 × quota, 100 000) (a whole quota-bounded queue).
 * - Message TTL: Redis expires the queued packet itself (the persistence's packetTTL, seconds), the
 *   same on every node and across restarts; the LevelDB checkpoint scheme (message-ttl.ts) is per
 *   process and would misjudge packets of other nodes.
 * - The queue quota counts the recipient's Redis list (redis-queue-quota.ts), not a per-node tally.
 * - No fixed broker id (a restarted node must not reuse packet keys), as for LevelDB.
 * Redis itself must run with AOF (appendonly yes) to survive its own restart.
 */
import type { EventEmitter } from 'node:events';
import createRedisPersistence from 'aedes-persistence-redis';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import type { Logger } from 'pino';
import { BrokerError } from './errors.ts';
import { parseTopic } from '../core/topics.ts';
import type { BrokerPersistence } from './persistence.ts';

/** Queued messages delivered per CONNECT when there is no quota (stock: 1001). */
export const REDIS_SESSION_DELIVERY_FLOOR = 100_000;
/** How long start() waits for Redis before failing (ms). */
export const REDIS_CONNECT_TIMEOUT_MS = 5000;
/** How long close() lets a connection say QUIT before cutting it (Redis down: QUIT would wait forever). */
export const REDIS_QUIT_GRACE_MS = 2000;

export interface RedisPersistenceOptions {
  readonly url: string;
  readonly topicPrefix: string;
  /** Per-recipient quota (0 = none); sizes the per-CONNECT delivery. */
  readonly maxQueuedPerClient: number;
  /** Queued inbox messages expire after this (0 = never); rounded up to whole seconds. */
  readonly messageTtlMs: number;
  readonly logger: Logger;
}

export interface OpenedRedis {
  readonly persistence: BrokerPersistence;
  /**
   * Resolves once every pub/sub subscription asked for so far is active in Redis. Aedes subscribes to
   * its cluster topics ($SYS/+/new/clients: "close your connection of this client id", heartbeats)
   * without waiting; a login on another node before they are active would not end the old session.
   */
  subscribed(): Promise<void>;
  /** The mqemitter for Aedes' `mq` option. */
  readonly mq: unknown;
  /** The broker's own connection (quota checks). */
  readonly redis: Redis;
  close(): Promise<void>;
}

/** The URL without its password, for messages and logs. */
export function redactRedisUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return 'redis://(unparsable)';
  }
}

async function connect(url: string, logger: Logger, extra: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: REDIS_CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 20, ...extra });
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
  try {
    await redis.connect();
    await redis.ping();
  } catch (cause) {
    redis.disconnect();
    throw new BrokerError('StoreError', `cannot reach Redis at ${redactRedisUrl(url)}`, { cause });
  }
  return redis;
}

/** mqemitter-redis' parts we touch (not in its typings). */
interface PubSub {
  readonly state: EventEmitter;
  readonly subConn: Redis;
  readonly pubConn: Redis;
  close(cb: () => void): void;
}

/**
 * Aedes.close() closes its mq, and mqemitter-redis' close waits until QUIT has ended both
 * connections: with Redis unreachable, forever (ioredis queues the QUIT, and a connection cut while
 * it waits to reconnect never reports 'end'). After a grace we cut them and go on.
 */
function boundQuit(mq: PubSub): void {
  const close = mq.close.bind(mq);
  mq.close = (cb) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      cb();
    };
    const timer = setTimeout(() => {
      mq.subConn.disconnect();
      mq.pubConn.disconnect();
      finish();
    }, REDIS_QUIT_GRACE_MS);
    close(finish);
  };
}

/** `p`, or nothing after `ms` (for shutdown steps that can wait forever on an unreachable Redis). */
function atMost(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

export async function openRedisPersistence(o: RedisPersistenceOptions): Promise<OpenedRedis> {
  const redis = await connect(o.url, o.logger);
  const ttlSeconds = Math.ceil(o.messageTtlMs / 1000);
  const persistence = createRedisPersistence({
    conn: redis,
    maxSessionDelivery: Math.max(REDIS_SESSION_DELIVERY_FLOOR, 2 * o.maxQueuedPerClient),
    // Only inbox messages expire; nothing else is ever queued (bundles are retained, not queued).
    packetTTL: (packet: { topic: string }) => (ttlSeconds > 0 && parseTopic(packet.topic, o.topicPrefix)?.kind === 'inbox' ? ttlSeconds : 0),
  }) as unknown as BrokerPersistence;
  // Our own pub/sub connections, ready before Aedes subscribes anything. Left to mqemitter-redis, the
  // subscriber connection got Aedes' first PSUBSCRIBE while ioredis was still checking readiness
  // (INFO): Redis refused the INFO in subscriber mode, ioredis reconnected and forgot that pattern,
  // and the node stopped hearing the cluster's subscription broadcasts — its SUBACKs then hung
  // (3 in 100 fresh subscriptions, measured). No ready check on these two: pub/sub commands are
  // allowed while Redis loads its data.
  let subConn: Redis | undefined;
  let pubConn: Redis;
  try {
    subConn = await connect(o.url, o.logger, { enableReadyCheck: false });
    pubConn = await connect(o.url, o.logger, { enableReadyCheck: false });
  } catch (e) {
    subConn?.disconnect();
    redis.disconnect();
    throw e;
  }
  const mq = MQEmitterRedis({ subConn, pubConn }) as unknown as PubSub;
  // An 'error' without a listener would crash the process; ioredis reconnects by itself.
  mq.state.on('error', (err: Error) => o.logger.warn({ err: err.message }, 'redis pub/sub error'));
  boundQuit(mq);
  let closed = false;
  return {
    persistence,
    mq,
    redis,
    // Redis answers a connection's commands in order: the PING's reply follows every (P)SUBSCRIBE.
    subscribed: async () => {
      await mq.subConn.ping();
    },
    async close() {
      if (closed) return;
      closed = true;
      // Aedes.close() has already closed mq; destroy() unsubscribes (best effort) and disconnects.
      await atMost(
        persistence.destroy().catch((err: unknown) => o.logger.debug({ err }, 'redis persistence destroy')),
        REDIS_QUIT_GRACE_MS,
      );
      redis.disconnect();
    },
  };
}
