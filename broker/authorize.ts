/**
 * Aedes' publish/subscribe/forward hooks over the pure ACL (acl.ts), plus the inbox quota and the
 * message TTL when configured. MQTT 3.1.1 has no way to refuse one PUBLISH: a publish the ACL refuses
 * closes the publisher's connection without a PUBACK. A refused subscription gets SUBACK 0x80.
 * Payloads are never logged.
 *
 * A publish to a full inbox (quota) is acknowledged and discarded instead: closing the connection
 * would cut the sender off from every other peer until that one recipient drains (measured: a daemon
 * stayed disconnected, its messages to others stuck, for as long as the recipient was away). The
 * sender's outbox resends what no encrypted receipt confirms, as it must for Mosquitto, which drops
 * past max_queued_messages the same way — so end to end nothing is lost, only delayed.
 */
import type { Logger } from 'pino';
import { decidePublish, decideSubscribe, mayReceive } from './acl.ts';
import type { AclOptions } from './acl.ts';

export interface PublishPacketView {
  /** Writable: a discarded publish is diverted to DISCARD_TOPIC. */
  topic: string;
  readonly payload: Buffer | string;
  readonly qos: number;
  readonly retain: boolean;
}

export interface SubscriptionView {
  readonly topic: string;
  readonly qos: number;
}

/** Per-recipient queue quota (queue-quota.ts). */
export interface InboxAdmission {
  /** Resolves true if one more message fits in the owner's queue. */
  admit(owner: string): Promise<boolean>;
}

/** Message TTL (message-ttl.ts). */
export interface MessageExpiry {
  isExpired(packet: { readonly brokerId?: string; readonly brokerCounter?: number }): boolean;
}

/** Where a discarded publish goes: a topic outside the layout, so no one can subscribe to it. */
export const DISCARD_TOPIC = '$ratchetd/discarded';

/** What became of a PUBLISH: accepted to an inbox or as a bundle, discarded (full inbox), refused (ACL). */
export type PublishOutcome = 'inbox' | 'bundle' | 'discarded' | 'refused';
export const PUBLISH_OUTCOMES: readonly PublishOutcome[] = ['inbox', 'bundle', 'discarded', 'refused'];

export interface AuthorizeOptions extends AclOptions {
  readonly logger: Logger;
  readonly quota?: InboxAdmission | undefined;
  readonly expiry?: MessageExpiry | undefined;
  /** Told of every publish decision (metrics). */
  readonly onPublish?: (outcome: PublishOutcome) => void;
  /** Told of every queued message deleted because it expired (metrics). */
  readonly onExpired?: () => void;
}

export function createAuthorizers(opts: AuthorizeOptions) {
  const { logger } = opts;
  const published = opts.onPublish ?? (() => undefined);

  function authorizePublish(client: { readonly id: string } | null, packet: PublishPacketView, done: (err?: Error | null) => void): void {
    if (client === null) return done(new Error('publish without a client'));
    const payloadBytes = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length;
    const d = decidePublish({ userId: client.id, topic: packet.topic, qos: packet.qos, retain: packet.retain, payloadBytes }, opts);
    if (!d.ok) {
      logger.info({ userId: client.id, reason: d.reason, bytes: payloadBytes }, 'publish refused');
      published('refused');
      return done(new Error(`publish refused: ${d.reason}`));
    }
    if (d.kind !== 'inbox' || opts.quota === undefined) {
      published(d.kind);
      return done(null);
    }
    opts.quota.admit(d.owner).then(
      (ok) => {
        if (ok) {
          published('inbox');
          return done(null);
        }
        logger.warn({ userId: client.id, recipient: d.owner }, 'recipient queue full: publish acknowledged and discarded (the sender resends)');
        packet.topic = DISCARD_TOPIC; // Aedes PUBACKs it and routes it to no one
        published('discarded');
        done(null);
      },
      (err: unknown) => {
        logger.error({ err, recipient: d.owner }, 'queue quota check failed');
        published('refused');
        done(new Error('publish refused: quota check failed'));
      },
    );
  }

  function authorizeSubscribe(
    client: { readonly id: string },
    sub: SubscriptionView,
    done: (err: Error | null, sub?: SubscriptionView | null) => void,
  ): void {
    const d = decideSubscribe(client.id, sub.topic, opts);
    if (!d.ok) {
      logger.info({ userId: client.id, reason: d.reason }, 'subscription refused');
      return done(null, null); // SUBACK 0x80
    }
    return done(null, { ...sub, qos: Math.min(sub.qos, 1) });
  }

  function authorizeForward<P extends { readonly topic: string; readonly brokerId?: string; readonly brokerCounter?: number }>(
    client: { readonly id: string },
    packet: P,
  ): P | null {
    if (!mayReceive(client.id, packet.topic, opts)) return null;
    if (opts.expiry?.isExpired(packet)) {
      logger.info({ userId: client.id }, 'queued message expired (TTL): deleted, not delivered');
      opts.onExpired?.();
      return null; // Aedes deletes a queued message the forward hook refuses
    }
    return packet;
  }

  return { authorizePublish, authorizeSubscribe, authorizeForward };
}
