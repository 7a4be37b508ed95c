/**
 * What the daemon engine needs from the relay, whatever carries it (mqtt.js to Aedes or Mosquitto,
 * or an in-process fake in tests). Envelopes and bundles are opaque bytes here.
 *
 * Delivery contract: the broker's PUBACK is not delivery. The engine keeps its own outbox
 * until an encrypted receipt returns; this layer only promises "the broker took it" for publishes and
 * "acked only after the handler resolved" for receives.
 */
import type { UserId } from '../../core/user-id.ts';

/** Handles one inbound envelope. Resolving = stored durably → the broker is acked. Rejecting = not
 *  stored → the broker must redeliver (the connection is dropped and re-established). */
export type EnvelopeHandler = (envelope: Uint8Array) => Promise<void>;

export type RelayStatus = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface RelayTransport {
  /** Sets the inbound handler; must be called before start(). */
  onEnvelope(handler: EnvelopeHandler): void;
  /** Called on every status change (from the relay's own event loop; must not throw). */
  onStatus(listener: (status: RelayStatus) => void): void;
  /** Starts connecting (and reconnecting with backoff until close). Resolves at once. */
  start(): void;
  /** Resolves when connected (immediately if connected); rejects when closed first. */
  whenConnected(): Promise<void>;
  readonly connected: boolean;
  /** The relay URL in use or being tried (one of several with failover). */
  readonly url?: string;
  /** Why the last connection attempt failed (e.g. "certificate rejected (CERT_HAS_EXPIRED)"); undefined once connected. */
  readonly lastError?: string | undefined;
  /** QoS 1 to the recipient's inbox; resolves on the broker's PUBACK. Rejects with
   *  RelayError('BrokerUnavailable') when not connected. */
  publishEnvelope(to: UserId, envelope: Uint8Array): Promise<void>;
  /** The user's retained bundle, or null if none is published (after a bounded wait). */
  fetchBundle(userId: UserId): Promise<Uint8Array | null>;
  /** Publishes this user's bundle, retained, QoS 1. */
  publishBundle(bundle: Uint8Array): Promise<void>;
  /** Disconnects and stops reconnecting. Pending publishes reject. */
  close(): Promise<void>;
}
