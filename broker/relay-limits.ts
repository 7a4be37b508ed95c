/**
 * Issue 5 limits, wired together: the per-recipient queue quota (queue-quota.ts) and the message TTL
 * (message-ttl.ts). Each is off unless configured (maxQueuedPerClient, messageTtlMs). Created before
 * Aedes starts (the quota wraps the persistence), attached once it runs (the TTL reads its counter).
 */
import type { Logger } from 'pino';
import type { InboxAdmission, MessageExpiry } from './authorize.ts';
import type { ResolvedBrokerConfig } from './config.ts';
import { MessageTtl } from './message-ttl.ts';
import type { CounterSource } from './message-ttl.ts';
import type { OpenedPersistence } from './persistence.ts';
import { QueueQuota } from './queue-quota.ts';

export interface RelayLimits {
  readonly quota: InboxAdmission | undefined;
  readonly expiry: MessageExpiry | undefined;
  /** Hooks into the running Aedes instance (its run id and packet counter). */
  attach(aedes: CounterSource): void;
  /** Stops timers and writes what must survive a restart; call before the database closes. */
  stop(): Promise<void>;
}

export async function createRelayLimits(cfg: ResolvedBrokerConfig, opened: OpenedPersistence, log: Logger): Promise<RelayLimits> {
  const quota = cfg.maxQueuedPerClient > 0 ? new QueueQuota(opened.persistence, cfg.maxQueuedPerClient) : undefined;
  const ttl = cfg.messageTtlMs > 0 ? await MessageTtl.open({ ttlMs: cfg.messageTtlMs, now: cfg.now, db: opened.db, logger: log }) : undefined;
  if (quota !== undefined || ttl !== undefined) {
    log.info({ maxQueuedPerClient: cfg.maxQueuedPerClient || null, messageTtlMs: cfg.messageTtlMs || null }, 'relay limits');
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
