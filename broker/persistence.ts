/**
 * The broker's storage: LevelDB (dataDir/broker) by default — the batched persistence in
 * level-persistence.ts, on aedes-persistence-level's layout —, Aedes' in-memory persistence, or
 * Redis shared by the nodes of a cluster (redis-persistence.ts). Aedes 1.x calls persistence methods
 * promise-style; the shipped typings are callback-style, so the few methods we touch are typed here.
 *
 * Never give Aedes a fixed broker `id` with a durable persistence: queued messages are keyed by
 * (broker id, per-run counter), so a restarted broker with the same id overwrites them.
 */
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import * as memoryPersistence from 'aedes-persistence';
import { Level } from 'level';
import type { Redis } from 'ioredis';
import { BrokerError } from './errors.ts';
import type { ResolvedBrokerConfig } from './config.ts';
import { openRedisPersistence } from './redis-persistence.ts';
import { LevelPersistence } from './level-persistence.ts';

/**
 * fsync every LevelDB batch of the broker. Off: a SIGKILL (or any crash of the process) loses
 * nothing written, a power cut loses what the OS had not flushed yet (Linux: up to ~30 s).
 */
export const BROKER_SYNC_WRITES = false;

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
  /**
   * The LevelDB database (level persistence only), for the broker's own records: in a sublevel with
   * its own encodings (its default value encoding is 'buffer', the persistence's records).
   */
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
    // Values default to buffers (the persistence's records; a put without options is the cheap one).
    db = new Level<string, string>(config.levelPath, { valueEncoding: 'buffer' } as never);
    await db.open();
  } catch (cause) {
    throw new BrokerError('StoreError', `cannot open the broker database in ${config.levelPath}`, { cause });
  }
  const log = config.logger.child({ component: 'broker-store' });
  const level = new LevelPersistence(db, {
    sync: BROKER_SYNC_WRITES,
    onWriteError: (err) => log.error({ err }, 'broker database write failed (those operations were refused)'),
  });
  const persistence = level as unknown as BrokerPersistence;
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
