/**
 * Every stored subscription, in memory: per client (what Aedes restores on a persistent reconnect)
 * and in Aedes' topic trie (who gets a publish). Loaded from the database once at setup; the
 * persistence writes each change to the database as it changes it here. Semantics as Aedes'
 * in-memory persistence (the abstract suite checks them): a QoS 0 subscription is kept for its client
 * but never matched (nothing is queued for it); a later subscription to the same topic replaces it.
 */
import QlobberSub from 'qlobber/aedes/qlobber-sub.js';
import type { TrieSubscription } from 'qlobber/aedes/qlobber-sub.js';
import type { StoredRecord } from './level-layout.ts';

/** As aedes-persistence-level matches (empty levels match '+'). */
const QLOBBER_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/', match_empty_levels: true };

/** A subscription as Aedes hands it over (topic, qos, rh, rap, nl, maybe an MQTT 5 identifier). */
export interface Subscription {
  readonly topic: string;
  readonly qos: number;
  readonly [field: string]: unknown;
}

export class SubscriptionIndex {
  /** clientId → topic → the stored record (with clientId). */
  private readonly byClient = new Map<string, Map<string, StoredRecord>>();
  private readonly trie = new QlobberSub(QLOBBER_OPTIONS);

  /** Adds a record read from the database (setup). */
  load(record: StoredRecord): void {
    const clientId = record.clientId;
    const topic = record.topic;
    if (typeof clientId !== 'string' || typeof topic !== 'string') return;
    this.set(clientId, topic, record);
  }

  /** Adds or replaces `clientId`'s subscriptions; returns the records to store. */
  add(clientId: string, subs: readonly Subscription[]): StoredRecord[] {
    return subs.map((sub) => {
      const record: StoredRecord = { ...sub, clientId };
      this.set(clientId, sub.topic, record);
      return record;
    });
  }

  /** Removes the topics' subscriptions of `clientId` (unknown topics are ignored). */
  remove(clientId: string, topics: readonly string[]): void {
    const stored = this.byClient.get(clientId);
    if (stored === undefined) return;
    for (const topic of topics) {
      const record = stored.get(topic);
      if (record === undefined) continue;
      if (Number(record.qos) > 0) this.trie.remove(topic, { clientId, topic });
      stored.delete(topic);
    }
    if (stored.size === 0) this.byClient.delete(clientId);
  }

  /** `clientId`'s subscriptions, without the client id, in the order they were first made. */
  ofClient(clientId: string): StoredRecord[] {
    const stored = this.byClient.get(clientId);
    if (stored === undefined) return [];
    return [...stored.values()].map(({ clientId: _omit, ...sub }) => sub);
  }

  topicsOf(clientId: string): string[] {
    return [...(this.byClient.get(clientId)?.keys() ?? [])];
  }

  /** The QoS > 0 subscriptions matching a published topic. */
  match(topic: string): TrieSubscription[] {
    return this.trie.match(topic);
  }

  /** Subscriptions that queue (QoS > 0), and clients with any subscription. */
  count(): { subsCount: number; clientsCount: number } {
    return { subsCount: this.trie.subscriptionsCount, clientsCount: this.byClient.size };
  }

  /** Clients subscribed to exactly this topic filter. */
  *clientsOf(topic: string): Generator<string> {
    for (const [clientId, stored] of this.byClient) if (stored.has(topic)) yield clientId;
  }

  private set(clientId: string, topic: string, record: StoredRecord): void {
    let stored = this.byClient.get(clientId);
    if (stored === undefined) {
      stored = new Map();
      this.byClient.set(clientId, stored);
    }
    const previous = stored.get(topic);
    const qos = Number(record.qos);
    if (qos > 0) {
      this.trie.add(topic, { clientId, topic, qos, rh: record.rh as number, rap: record.rap as boolean, nl: record.nl as boolean });
    } else if (previous !== undefined && Number(previous.qos) > 0) {
      this.trie.remove(topic, { clientId, topic });
    }
    stored.set(topic, record);
  }
}
