/**
 * What a running engine tells about itself, as plain numbers read on demand (the metrics adapter in
 * daemon/metrics/ turns them into Prometheus metrics; the engine knows nothing of prom-client).
 * Counters are since this process started; gauges are now. Nothing here names a peer or a message.
 */
import type { Engine } from './engine.ts';

export interface EngineMetrics {
  /** Messages stored in the outbox for sending (Send accepted them; encrypted, durable). */
  readonly messagesSent: number;
  /** Messages whose encrypted delivery receipt came back. */
  readonly messagesDelivered: number;
  /** Messages given up (too old, or the recipient's identity was replaced). */
  readonly messagesFailed: number;
  /** Messages from peers decrypted and stored in the inbox. */
  readonly messagesReceived: number;
  /** Messages refused unstored because the inbox was full (their senders resend them). */
  readonly messagesRefused: number;
  /** First messages from unknown senders refused because the contact table was full. */
  readonly firstContactsRefused: number;
  /** Inbound envelopes dropped, by reason (our own error codes: a bounded set). */
  readonly envelopesDropped: Readonly<Record<string, number>>;
  /** Skipped message keys of quiet sessions expired by the sweep (skipped-key-sweep.ts). */
  readonly skippedKeysExpired: number;
  readonly outboxMessages: number;
  /** Age of the oldest outbox entry (ms); 0 when the outbox is empty. */
  readonly outboxOldestAgeMs: number;
  readonly inboxMessages: number;
  /** Unacked messages the webhook gave up on (dead-letters.ts). */
  readonly deadLetters: number;
  readonly oneTimePrekeys: number;
  readonly signedPrekeyAgeMs: number;
  readonly contacts: number;
  readonly brokerConnected: boolean;
  /** Group messages sent (Send with a group; each once, whatever the number of members). */
  readonly groupMessagesSent: number;
  /** Groups this daemon is a member of. */
  readonly groups: number;
  /** Own group messages some addressed member has not receipted yet. */
  readonly groupOutboxMessages: number;
  /** Group copies and contents held until their key or version arrives. */
  readonly groupHeldItems: number;
  /** Group contents refused (not from the owner, forged, forked, undecodable), by reason. */
  readonly groupContentsRefused: Readonly<Record<string, number>>;
  /** Key requests this daemon sent to group senders, by reason (UnknownSenderKey, TooFarAhead, Resent, SeqHole). */
  readonly groupKeyRequestsSent: Readonly<Record<string, number>>;
  /** Key requests of members this daemon answered (its key again, and a re-send of what they lack). */
  readonly groupKeyRequestsAnswered: number;
}

export function engineMetrics(engine: Engine, now: number): EngineMetrics {
  const { ctx, receiver } = engine;
  const oldest = ctx.outbox.oldestCreatedAt();
  return {
    messagesSent: ctx.outbox.totals.accepted,
    messagesDelivered: ctx.outbox.totals.delivered,
    messagesFailed: ctx.outbox.totals.failed,
    messagesReceived: ctx.inbox.receivedMessages,
    messagesRefused: ctx.inbox.refusedMessages,
    firstContactsRefused: ctx.contacts.refusedFirstContacts,
    envelopesDropped: receiver.dropped(),
    skippedKeysExpired: engine.skippedKeySweep.expiredKeys,
    outboxMessages: ctx.outbox.depth,
    outboxOldestAgeMs: oldest === undefined ? 0 : Math.max(0, now - oldest),
    inboxMessages: ctx.inbox.depth,
    deadLetters: ctx.deadLetters.size,
    oneTimePrekeys: ctx.prekeys.oneTimePrekeys,
    signedPrekeyAgeMs: ctx.prekeys.signedPrekeyAgeMs(now),
    contacts: ctx.contacts.size,
    brokerConnected: ctx.relay.connected,
    groupMessagesSent: engine.groups.messagesSent,
    groups: engine.groups.parts.state.groups.size,
    groupOutboxMessages: engine.groups.parts.outbox.depth,
    groupHeldItems: engine.groups.parts.held.size,
    groupContentsRefused: Object.fromEntries(engine.groups.parts.refused),
    groupKeyRequestsSent: Object.fromEntries(engine.groups.receive.keyRequestsSent),
    groupKeyRequestsAnswered: engine.groups.receive.keyRequestsAnswered,
  };
}
