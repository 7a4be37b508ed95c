/**
 * What the relay counts about itself, as plain numbers (broker/metrics.ts turns them into Prometheus
 * metrics; nothing here knows of prom-client). Label sets are bounded: publish outcomes are a fixed
 * list, login refusal reasons are error codes of our own (authenticate.ts), never a client's text.
 *
 * Queued messages are the QoS 1 messages the persistence holds for recipients (offline, or sent and
 * not yet PUBACKed). With LevelDB or memory this process owns the queues: they are counted once at
 * start (a key scan) and then tracked by wrapping the two persistence methods that add and remove
 * them (as queue-quota.ts does). With Redis every node shares the queues: they are counted from
 * Redis when asked (one LLEN per recipient queue).
 */
import type { Level } from 'level';
import type { Redis } from 'ioredis';
import type { PublishOutcome } from './authorize.ts';
import { PUBLISH_OUTCOMES } from './authorize.ts';
import type { BrokerPersistence } from './persistence.ts';

/** The LevelDB key range of queued packets (aedes-persistence-level's `outgoing:{client}:…` records). */
const LEVEL_QUEUE_RANGE = { gte: 'outgoing:', lt: 'outgoing;' };
/** The Redis keys of the per-recipient queue lists (aedes-persistence-redis: redis-queue-quota.ts). */
const REDIS_QUEUE_PATTERN = 'outgoing:*';
/** Keys asked for per SCAN round trip. */
const REDIS_SCAN_COUNT = 1000;

export interface BrokerStats {
  /** Clients connected to this node now. */
  readonly connectedClients: number;
  /** PUBLISH decisions since start, by outcome. */
  readonly publishes: Readonly<Record<PublishOutcome, number>>;
  /** Refused CONNECTs since start, by reason. */
  readonly loginsRefused: ReadonlyMap<string, number>;
  /** Queued messages deleted undelivered because they expired (message TTL), since start. */
  readonly messagesExpired: number;
  /** Messages queued for recipients now (0 while the broker is not running). */
  queuedMessages(): Promise<number>;
}

/** The counters the broker's hooks feed. */
export class BrokerCounters {
  readonly publishes = Object.fromEntries(PUBLISH_OUTCOMES.map((o) => [o, 0])) as Record<PublishOutcome, number>;
  readonly loginsRefused = new Map<string, number>();
  messagesExpired = 0;

  readonly published = (outcome: PublishOutcome): void => {
    this.publishes[outcome] += 1;
  };

  readonly loginRefused = (reason: string): void => {
    this.loginsRefused.set(reason, (this.loginsRefused.get(reason) ?? 0) + 1);
  };

  readonly expired = (): void => {
    this.messagesExpired += 1;
  };
}

export interface QueuedMessages {
  count(): Promise<number>;
}

/** Starts counting the queued messages of an opened persistence; call before Aedes uses it. */
export async function countQueuedMessages(persistence: BrokerPersistence, db: Level<string, string> | null, redis: Redis | null): Promise<QueuedMessages> {
  if (redis !== null) return { count: () => countRedisQueues(redis) };
  let queued = 0;
  if (db !== null) for await (const _key of db.keys(LEVEL_QUEUE_RANGE)) queued++;
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    const result = await enqueue(subs, packet);
    queued += subs.length;
    return result;
  };
  persistence.outgoingClearMessageId = async (client, packet) => {
    const removed = await clear(client, packet);
    if (removed !== undefined && removed !== null) queued = Math.max(0, queued - 1);
    return removed;
  };
  return { count: async () => queued };
}

async function countRedisQueues(redis: Redis): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    // TYPE list: per-packet keys (outgoing:{client}:{broker}:{counter}) match the pattern too.
    const [next, keys] = await redis.scan(cursor, 'MATCH', REDIS_QUEUE_PATTERN, 'COUNT', REDIS_SCAN_COUNT, 'TYPE', 'list');
    cursor = next;
    if (keys.length > 0) {
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.llen(key);
      for (const [err, n] of (await pipeline.exec()) ?? []) if (err === null && typeof n === 'number') total += n;
    }
  } while (cursor !== '0');
  return total;
}
