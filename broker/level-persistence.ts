/**
 * The broker's LevelDB persistence for Aedes 1.x (promise style, the interface of
 * aedes-persistence's abstract suite, which broker/level-persistence.abstract.test.ts runs).
 *
 * Same database layout as aedes-persistence-level 9 (level-layout.ts): an old data dir opens as is
 * (broker/upgrade.test.ts), and the old code could still open a new one. What differs is how it
 * reaches the disk. aedes-persistence-level wrote and read LevelDB separately for every step of
 * every message — enqueue (1 put), delivery (1 get, 2 puts, maybe 1 del), PUBACK (1 get, 2 dels) —
 * so the relay ran at 16–23% of in-memory Aedes. Here:
 *   - writes are group-committed (group-commit.ts): everything arriving while one LevelDB batch is
 *     written goes in the next one;
 *   - the message id of a packet in flight lives in memory (message-id-index.ts): no second copy;
 *   - recording that id on delivery and deleting the packet on PUBACK are held writes: the PUBACK
 *     usually arrives first and the two become one delete. A live message costs 2 LevelDB
 *     operations (its put and its delete), in batches shared with every other message;
 *   - the reads of delivery and PUBACK (the record just enqueued or updated) come from memory;
 *   - subscriptions live in memory (subscription-index.ts), loaded once at setup;
 *   - an exact-topic retained lookup (a bundle fetch) is one read, never a scan.
 *
 * What is durable when (not fsynced unless `sync`: in LevelDB's log, in the OS page cache, which
 * a crash of the process keeps):
 *   - a queued packet, a retained bundle, a subscription: when the operation resolves. Aedes waits
 *     for the enqueue before delivering live and before reading the publisher's next packets, but it
 *     PUBACKs the publisher first: a SIGKILL can lose the publishes acknowledged during the last
 *     batch write (under a millisecond to a few ms of traffic). The daemons' outboxes resend them
 *     (a message is kept until its encrypted receipt arrives).
 *   - a message id or a PUBACK: within LAZY_WRITE_DELAY_MS (250 ms). Losing one only means the
 *     packet is delivered again (with a new id); receivers drop duplicates.
 */
import { Readable } from 'node:stream';
import Packet from 'aedes-packet';
import { QlobberTrue } from 'qlobber';
import type { Level } from 'level';
import { GroupCommitStore } from './group-commit.ts';
import type { GroupCommitOptions } from './group-commit.ts';
import * as layout from './level-layout.ts';
import type { StoredRecord } from './level-layout.ts';
import { MessageIdIndex } from './message-id-index.ts';
import { SubscriptionIndex } from './subscription-index.ts';
import type { Subscription } from './subscription-index.ts';

const RETAINED_MATCH_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/', match_empty_levels: true };

interface Client {
  readonly id: string;
}
/** A packet as Aedes hands it over (fields vary by command). */
type PacketLike = Record<string, unknown> & { topic?: string; messageId?: number; brokerId?: string; brokerCounter?: number; payload?: unknown };

/**
 * The fields of a packet Aedes hands over, without the callback it hangs on packets it sends
 * (QoSPacket.writeCallback); msgpack would store any other function as nil.
 */
function snapshot(packet: object): StoredRecord {
  const { writeCallback: _callback, ...fields } = packet as StoredRecord;
  return fields;
}

/** Aedes' stored shape of a publish (a fresh object: nothing else holds it). */
function storedPacket(packet: object): StoredRecord {
  return new Packet(packet) as unknown as StoredRecord;
}

function hasWildcard(pattern: string): boolean {
  return pattern.includes('+') || pattern.includes('#');
}

const noSuchPacket = (): Error => new Error('no such packet');

export class LevelPersistence {
  readonly store: GroupCommitStore;
  private readonly subscriptions = new SubscriptionIndex();
  private readonly messageIds = new MessageIdIndex();
  /** Clients with QoS 2 packets stored (cleanIncoming of anyone else needs no disk read). */
  private readonly incomingClients = new Set<string>();
  private brokerRef: { id: string } | undefined;

  constructor(db: Level<string, string>, opts: GroupCommitOptions) {
    this.store = new GroupCommitStore(db, opts);
  }

  get broker(): { id: string } | undefined {
    return this.brokerRef;
  }

  async setup(broker: { id: string }): Promise<void> {
    this.brokerRef = broker;
    for await (const [, record] of this.store.scan(layout.SUBSCRIPTIONS)) this.subscriptions.load(record);
    for await (const [key] of this.store.scan(layout.INCOMING)) this.incomingClients.add(layout.clientIdOf(key, layout.INCOMING));
    // Old layout: packets in flight had a second record under their message id.
    for await (const [key, record] of this.store.scan(layout.OUTGOING_BY_ID)) {
      const clientId = layout.clientIdOf(key, layout.OUTGOING_BY_ID);
      const messageId = Number(key.slice(key.lastIndexOf(':') + 1));
      if (!Number.isSafeInteger(messageId)) continue;
      const queueKey = layout.outgoingKey(clientId, record.brokerId as string, record.brokerCounter as number);
      this.messageIds.set(clientId, messageId, { queueKey, idRecordOnDisk: true });
    }
  }

  // --- retained -------------------------------------------------------------------------------

  async storeRetained(packet: PacketLike): Promise<void> {
    const key = layout.retainedKey(String(packet.topic));
    const payload = packet.payload as { length: number } | undefined;
    await (payload === undefined || payload.length === 0 ? this.store.del(key) : this.store.put(key, snapshot(packet)));
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  /** Exact topics: one read each. Wildcards: one scan for all of them. Each topic at most once. */
  createRetainedStreamCombi(patterns: string[]): Readable {
    const store = this.store;
    async function* lookup(): AsyncGenerator<StoredRecord> {
      const seen = new Set<string>();
      for (const topic of patterns) {
        if (hasWildcard(topic) || seen.has(topic)) continue;
        seen.add(topic);
        const record = await store.get(layout.retainedKey(topic));
        if (record !== undefined) yield record;
      }
      const wildcards = patterns.filter(hasWildcard);
      if (wildcards.length === 0) return;
      const matcher = new QlobberTrue(RETAINED_MATCH_OPTIONS);
      for (const p of wildcards) matcher.add(p);
      for await (const [, record] of store.scan(layout.RETAINED)) {
        const topic = String(record.topic);
        if (!seen.has(topic) && matcher.test(topic)) yield record;
      }
    }
    return Readable.from(lookup());
  }

  // --- subscriptions --------------------------------------------------------------------------

  async addSubscriptions(client: Client, subs: Subscription[]): Promise<void> {
    let written: Promise<void> = Promise.resolve();
    for (const record of this.subscriptions.add(client.id, subs)) written = this.store.put(layout.subscriptionKey(client.id, String(record.topic)), record);
    await written;
  }

  async removeSubscriptions(client: Client, topics: string[]): Promise<void> {
    this.subscriptions.remove(client.id, topics);
    let written: Promise<void> = Promise.resolve();
    for (const topic of topics) written = this.store.del(layout.subscriptionKey(client.id, topic));
    await written;
  }

  async subscriptionsByClient(client: Client): Promise<StoredRecord[]> {
    return this.subscriptions.ofClient(client.id);
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return this.subscriptions.count();
  }

  async subscriptionsByTopic(topic: string): Promise<unknown[]> {
    return this.subscriptions.match(topic);
  }

  async cleanSubscriptions(client: Client): Promise<void> {
    const topics = this.subscriptions.topicsOf(client.id);
    if (topics.length > 0) await this.removeSubscriptions(client, topics);
  }

  getClientList(topic: string): Readable {
    return Readable.from([...this.subscriptions.clientsOf(topic)]);
  }

  // --- outgoing queues ------------------------------------------------------------------------

  async outgoingEnqueue(sub: { clientId: string }, packet: PacketLike): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PacketLike): Promise<void> {
    if (subs === undefined || subs.length === 0) return;
    const record = storedPacket(packet);
    let written: Promise<void> = Promise.resolve();
    for (const sub of subs) written = this.store.put(layout.outgoingKey(sub.clientId, packet.brokerId, packet.brokerCounter), record);
    await written;
  }

  /**
   * Records the message id Aedes assigned to a queued packet as it sends it (or a PUBREL replacing
   * it, QoS 2): one write, not waited for — if a crash loses it, the packet is resent under a new id.
   */
  async outgoingUpdate(client: Client, packet: PacketLike): Promise<void> {
    if (!packet.brokerId) {
      const inFlight = this.messageIds.get(client.id, packet.messageId);
      const queued = inFlight === undefined ? undefined : await this.store.getShared(inFlight.queueKey);
      if (queued === undefined) throw noSuchPacket();
      packet.brokerId = queued.brokerId as string;
      packet.brokerCounter = queued.brokerCounter as number;
    }
    const queueKey = layout.outgoingKey(client.id, packet.brokerId, packet.brokerCounter);
    const queued = await this.store.getShared(queueKey);
    if (queued === undefined) throw noSuchPacket();
    const previousId = queued.messageId;
    if (typeof previousId === 'number' && previousId !== packet.messageId && this.messageIds.get(client.id, previousId)?.queueKey === queueKey) {
      const old = this.messageIds.take(client.id, previousId);
      if (old?.idRecordOnDisk === true) this.store.delLater(layout.outgoingByIdKey(client.id, previousId));
    }
    if (typeof packet.messageId === 'number') {
      // An id that pointed at another packet (ids wrap around) now means this one; an old-layout
      // record under it is deleted with this packet.
      const idRecordOnDisk = this.messageIds.get(client.id, packet.messageId)?.idRecordOnDisk ?? false;
      this.messageIds.set(client.id, packet.messageId, { queueKey, idRecordOnDisk });
    }
    this.store.putLater(queueKey, snapshot(packet));
  }

  /**
   * PUBACK: removes the packet with this message id and returns it (undefined if unknown). The
   * delete is not waited for: if a crash loses it, the packet is delivered again (receivers drop
   * duplicates).
   */
  async outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<StoredRecord | undefined> {
    const messageId = packet?.messageId;
    const inFlight = this.messageIds.take(client.id, messageId);
    if (inFlight === undefined) return undefined;
    const idKey = layout.outgoingByIdKey(client.id, messageId);
    const found = (await this.store.get(inFlight.queueKey)) ?? (inFlight.idRecordOnDisk ? await this.store.get(idKey) : undefined);
    this.store.delLater(inFlight.queueKey);
    if (inFlight.idRecordOnDisk) this.store.delLater(idKey);
    return found;
  }

  outgoingStream(client: Client): Readable {
    const store = this.store;
    async function* queued(): AsyncGenerator<StoredRecord> {
      for await (const [, record] of store.scan(layout.outgoingOf(client.id))) yield record;
    }
    return Readable.from(queued());
  }

  // --- incoming (QoS 2 from publishers; the relay refuses QoS 2, Aedes still calls these) -----------

  async incomingStorePacket(client: Client, packet: PacketLike): Promise<void> {
    const record = storedPacket(packet);
    record.messageId = packet.messageId;
    this.incomingClients.add(client.id);
    await this.store.put(layout.incomingKey(client.id, packet.messageId), record);
  }

  async incomingGetPacket(client: Client, packet: { messageId?: number }): Promise<StoredRecord> {
    const record = await this.store.get(layout.incomingKey(client.id, packet.messageId));
    if (record === undefined) throw noSuchPacket();
    return record;
  }

  async incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<void> {
    await this.store.del(layout.incomingKey(client.id, packet.messageId));
  }

  async cleanIncoming(client: Client): Promise<void> {
    if (!this.incomingClients.has(client.id)) return;
    let written: Promise<void> = Promise.resolve();
    for await (const [key] of this.store.scan(layout.incomingOf(client.id))) written = this.store.del(key);
    this.incomingClients.delete(client.id);
    await written;
  }

  // --- wills ----------------------------------------------------------------------------------

  async putWill(client: Client, packet: PacketLike): Promise<void> {
    packet.brokerId = this.brokerRef?.id;
    packet.clientId = client.id;
    await this.store.put(layout.willKey(client.id), snapshot(packet));
  }

  async getWill(client: Client): Promise<StoredRecord | undefined> {
    return this.store.get(layout.willKey(client.id));
  }

  async delWill(client: Client): Promise<StoredRecord | undefined> {
    const key = layout.willKey(client.id);
    const will = await this.store.get(key);
    if (will === undefined) return undefined;
    await this.store.del(key);
    return will;
  }

  /** Wills of brokers not in `brokers` (all of them without it). */
  streamWill(brokers?: Record<string, unknown>): Readable {
    const store = this.store;
    async function* wills(): AsyncGenerator<StoredRecord> {
      for await (const [, will] of store.scan(layout.WILL)) if (brokers === undefined || !brokers[String(will.brokerId)]) yield will;
    }
    return Readable.from(wills());
  }

  /** Writes what is pending and closes the database. */
  async destroy(): Promise<void> {
    await this.store.close();
  }
}
