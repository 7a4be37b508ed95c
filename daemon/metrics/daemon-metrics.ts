/**
 * The daemon's Prometheus metrics: prom-client collectors over the engine's own numbers
 * (daemon/engine/engine-metrics.ts), read at each scrape. Conventional names: the ratchetd_ prefix,
 * _total for counters, base units (seconds), and labels only from bounded sets (drop reasons are our
 * own error codes) — never a peer, a user id or a message id.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EngineMetrics } from '../engine/engine-metrics.ts';

/** The engine's numbers now; undefined while its store is not open yet (everything reads 0). */
export type EngineMetricsSource = () => EngineMetrics | undefined;

type NumberField = { [K in keyof EngineMetrics]: EngineMetrics[K] extends number ? K : never }[keyof EngineMetrics];

const COUNTERS: readonly { name: string; help: string; field: NumberField }[] = [
  { name: 'ratchetd_messages_sent_total', help: 'Messages accepted for sending: encrypted and stored in the outbox (Send, SendStream).', field: 'messagesSent' },
  { name: 'ratchetd_messages_delivered_total', help: "Sent messages confirmed by the recipient's encrypted delivery receipt.", field: 'messagesDelivered' },
  { name: 'ratchetd_messages_failed_total', help: "Sent messages given up: no receipt within the outbox's maximum age, or the recipient's identity was replaced.", field: 'messagesFailed' },
  { name: 'ratchetd_messages_received_total', help: 'Messages from peers decrypted and stored in the inbox.', field: 'messagesReceived' },
  { name: 'ratchetd_messages_refused_total', help: 'Inbound messages refused unstored because the inbox was full (their senders resend them).', field: 'messagesRefused' },
  { name: 'ratchetd_skipped_keys_expired_total', help: 'Skipped message keys of quiet sessions deleted by the expiry sweep (5 DH steps or 30 days).', field: 'skippedKeysExpired' },
  { name: 'ratchetd_group_messages_sent_total', help: 'Group messages sent (each once, encrypted once, whatever the number of members).', field: 'groupMessagesSent' },
  { name: 'ratchetd_group_key_requests_answered_total', help: "Group members' key requests answered: this daemon's sender key again, and a re-send of what the member lacks.", field: 'groupKeyRequestsAnswered' },
  { name: 'ratchetd_first_contacts_refused_total', help: 'First messages from unknown senders refused because the contact table was full.', field: 'firstContactsRefused' },
];

const GAUGES: readonly { name: string; help: string; value: (m: EngineMetrics) => number }[] = [
  { name: 'ratchetd_outbox_messages', help: 'Sent messages waiting for their delivery receipt.', value: (m) => m.outboxMessages },
  { name: 'ratchetd_outbox_oldest_age_seconds', help: 'Age of the oldest message waiting for its delivery receipt (0 when none waits).', value: (m) => m.outboxOldestAgeMs / 1000 },
  { name: 'ratchetd_inbox_messages', help: 'Received messages not yet acknowledged by the local client.', value: (m) => m.inboxMessages },
  { name: 'ratchetd_webhook_dead_letters', help: 'Received messages the webhook gave up on after retrying for an hour (ratchetd ctl dead-letters, ctl redrive).', value: (m) => m.deadLetters },
  { name: 'ratchetd_one_time_prekeys', help: 'One-time prekeys left (refilled by maintenance).', value: (m) => m.oneTimePrekeys },
  { name: 'ratchetd_signed_prekey_age_seconds', help: 'Age of the current signed prekey (rotated every 7 days).', value: (m) => m.signedPrekeyAgeMs / 1000 },
  { name: 'ratchetd_contacts', help: 'Contacts known to this daemon.', value: (m) => m.contacts },
  { name: 'ratchetd_broker_connected', help: '1 while the daemon is connected to its relay, else 0.', value: (m) => (m.brokerConnected ? 1 : 0) },
  { name: 'ratchetd_groups', help: 'Groups this daemon is a member of.', value: (m) => m.groups },
  { name: 'ratchetd_group_outbox_messages', help: 'Own group messages that some addressed member has not receipted yet.', value: (m) => m.groupOutboxMessages },
  { name: 'ratchetd_group_held_items', help: 'Group copies and contents held until their sender key or membership version arrives.', value: (m) => m.groupHeldItems },
];

export function registerDaemonMetrics(registry: Registry, source: EngineMetricsSource): void {
  const registers = [registry];
  for (const c of COUNTERS) {
    new Counter({
      name: c.name,
      help: c.help,
      registers,
      collect() {
        this.reset();
        this.inc(source()?.[c.field] ?? 0);
      },
    });
  }
  new Counter({
    name: 'ratchetd_envelopes_dropped_total',
    help: 'Inbound envelopes dropped without effect, by reason: failures to decode or decrypt (DecodeError, BadMessage, NoSession, TooFarAhead, StalePrekey, InvalidKey, WrongRecipient, UnsupportedVersion, NotSealedToUs, UnknownTag, ...), copies (Duplicate, ReplayedHandshake), and Unexpected.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(source()?.envelopesDropped ?? {})) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'ratchetd_group_contents_refused_total',
    help: 'Group contents refused without effect, by reason (NotGroupOwner, BadSignature, ForkedGroupVersion, WrongGroup, NotGroupMember, ConflictingSenderKey, BadMessage, Undecodable, Unexpected, ...).',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(source()?.groupContentsRefused ?? {})) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'ratchetd_group_key_requests_total',
    help: 'Key requests sent to group senders, by reason: UnknownSenderKey and TooFarAhead (a copy that cannot be read), Resent (a re-send from a sender whose key this member lacks), SeqHole (a missing message outlived groupHoleWaitMs).',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(source()?.groupKeyRequestsSent ?? {})) this.inc({ reason }, n);
    },
  });
  for (const g of GAUGES) {
    new Gauge({
      name: g.name,
      help: g.help,
      registers,
      collect() {
        const m = source();
        this.set(m === undefined ? 0 : g.value(m));
      },
    });
  }
}
