/**
 * Issue 5 limits, wired together: the per-recipient queue quota and the message TTL. Each is off
 * unless configured (maxQueuedPerClient, messageTtlMs). Created before Aedes starts (the quota wraps
 * the persistence), attached once it runs (the TTL reads its counter).
 *
 *                      quota                               TTL
 *   level, memory      per-process tally (queue-quota.ts)  counter checkpoints (message-ttl.ts)
 *   redis (cluster)    LLEN in Redis (redis-queue-quota)   Redis key expiry (redis-persistence.ts)
 *
 * The cluster variants hold for every node at once; the per-process ones would not.
 */
import type { Logger } from 'pino';
import type { InboxAdmission, MessageExpiry } from './authorize.ts';
import type { ResolvedBrokerConfig } from './config.ts';
import { MessageTtl } from './message-ttl.ts';
import type { CounterSource } from './message-ttl.ts';
import type { OpenedPersistence } from './persistence.ts';
import { QueueQuota } from './queue-quota.ts';
import { RedisQueueQuota } from './redis-queue-quota.ts';

export interface RelayLimits {
  readonly quota: InboxAdmission | undefined;
  readonly expiry: MessageExpiry | undefined;
  /** Hooks into the running Aedes instance (its run id and packet counter). */
  attach(aedes: CounterSource): void;
  /** Stops timers and writes what must survive a restart; call before the database closes. */
  stop(): Promise<void>;
}

export async function createRelayLimits(cfg: ResolvedBrokerConfig, opened: OpenedPersistence, log: Logger): Promise<RelayLimits> {
  const redis = opened.redis;
  const quota =
    cfg.maxQueuedPerClient === 0
      ? undefined
      : redis === null
        ? new QueueQuota(opened.persistence, cfg.maxQueuedPerClient)
        : new RedisQueueQuota(redis, cfg.maxQueuedPerClient);
  // With Redis the TTL is the packet's key expiry, set by the persistence itself.
  const ttl =
    cfg.messageTtlMs > 0 && redis === null ? await MessageTtl.open({ ttlMs: cfg.messageTtlMs, now: cfg.now, db: opened.db, logger: log }) : undefined;
  if (cfg.maxQueuedPerClient > 0 || cfg.messageTtlMs > 0) {
    log.info({ maxQueuedPerClient: cfg.maxQueuedPerClient || null, messageTtlMs: cfg.messageTtlMs || null, shared: redis !== null }, 'relay limits');
  }
  return {
    quota,
    expiry: ttl,
    attach: (aedes) => ttl?.attach(aedes),
    stop: async () => {
      await ttl?.stop();
    },
  };
}
