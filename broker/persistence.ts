/**
 * The broker's storage: aedes-persistence-level on LevelDB (dataDir/broker) by default, Aedes'
 * in-memory persistence, or Redis shared by the nodes of a cluster (redis-persistence.ts). Aedes 1.x calls persistence methods promise-style; the shipped typings are
 * callback-style, so the few methods we touch are typed here.
 *
 * Never give Aedes a fixed broker `id` with a durable persistence: queued messages are keyed by
 * (broker id, per-run counter), so a restarted broker with the same id overwrites them.
 */
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import createLevelPersistence from 'aedes-persistence-level';
import * as memoryPersistence from 'aedes-persistence';
import { Level } from 'level';
import type { Redis } from 'ioredis';
import { BrokerError } from './errors.ts';
import type { ResolvedBrokerConfig } from './config.ts';
import { openRedisPersistence } from './redis-persistence.ts';
import { exactRetainedLookups, type RetainedPersistence } from './retained-lookup.ts';

export interface QueuedPacket {
  readonly topic: string;
  readonly qos?: number;
  readonly retain?: boolean;
  readonly brokerId?: string;
  readonly brokerCounter?: number;
  readonly messageId?: number;
}

/** The persistence methods our wrappers use (as Aedes 1.x calls them). */
export interface BrokerPersistence {
  setup(broker: unknown): Promise<void>;
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: QueuedPacket): Promise<unknown>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<QueuedPacket | undefined>;
  outgoingUpdate(client: { readonly id: string }, packet: unknown): Promise<unknown>;
  outgoingStream(client: { id: string }): Readable;
  destroy(): Promise<void>;
}

export interface OpenedPersistence {
  readonly persistence: BrokerPersistence;
  /** The LevelDB database (level persistence only), for the broker's own records. */
  readonly db: Level<string, string> | null;
  /** The cluster's Redis (redis persistence only), for the broker's own queries. */
  readonly redis: Redis | null;
  /** Aedes' `mq` (message emitter between nodes), or undefined for Aedes' in-process default. */
  readonly mq: unknown;
  /** Resolves when the cluster's pub/sub subscriptions are active (call after Aedes started). */
  subscribed(): Promise<void>;
  close(): Promise<void>;
}

export async function openPersistence(config: ResolvedBrokerConfig): Promise<OpenedPersistence> {
  if (config.redisUrl !== null) {
    const r = await openRedisPersistence({
      url: config.redisUrl,
      topicPrefix: config.topicPrefix,
      maxQueuedPerClient: config.maxQueuedPerClient,
      messageTtlMs: config.messageTtlMs,
      logger: config.logger,
    });
    return { persistence: r.persistence, db: null, redis: r.redis, mq: r.mq, subscribed: r.subscribed, close: r.close };
  }
  if (config.levelPath === null) {
    const createMemory = (memoryPersistence as unknown as { default: () => unknown }).default;
    const persistence = createMemory() as BrokerPersistence;
    return { persistence, db: null, redis: null, mq: undefined, subscribed: async () => undefined, close: () => persistence.destroy() };
  }
  let db: Level<string, string>;
  try {
    await mkdir(config.levelPath, { recursive: true });
    db = new Level<string, string>(config.levelPath);
    await db.open();
  } catch (cause) {
    throw new BrokerError('StoreError', `cannot open the broker database in ${config.levelPath}`, { cause });
  }
  const persistence = createLevelPersistence(db) as BrokerPersistence;
  exactRetainedLookups(persistence as unknown as RetainedPersistence, db); // bundle fetches: one get, not a scan
  return {
    persistence,
    db,
    redis: null,
    mq: undefined,
    subscribed: async () => undefined,
    close: async () => {
      await persistence.destroy(); // closes the database
    },
  };
}
