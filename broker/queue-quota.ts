/**
 * Per-recipient queue quota (issue 5). Aedes has no cap on a client's offline queue, so one silent
 * recipient could fill the disk. We count, per client id, the QoS 1 messages the persistence holds for
 * it (queued offline or in flight, not yet PUBACKed); a publish to an inbox whose count has reached
 * the quota is acknowledged and discarded (authorize.ts says why), and the sender's outbox resends it
 * until an encrypted receipt confirms delivery: delayed end to end, never lost.
 *
 * Counting: a recipient's count is loaded lazily from the persistence (outgoingStream — works for any
 * persistence, and after a restart), then kept up to date by wrapping outgoingEnqueueCombi (+1 per
 * subscriber stored) and outgoingClearMessageId (−1 when an entry is removed). Concurrent loads make
 * the count approximate by a few messages; it is a quota, not an invariant.
 */
import type { BrokerPersistence, QueuedPacket } from './persistence.ts';

export class QueueQuota {
  private readonly counts = new Map<string, number>();
  /** Recipients being counted from the store, with the changes seen meanwhile. */
  private readonly loading = new Map<string, { promise: Promise<number>; delta: number }>();

  constructor(
    private readonly persistence: BrokerPersistence,
    private readonly maxQueued: number,
  ) {
    const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
    const clear = persistence.outgoingClearMessageId.bind(persistence);
    persistence.outgoingEnqueueCombi = async (subs, packet) => {
      const result = await enqueue(subs, packet);
      for (const sub of subs) this.adjust(sub.clientId, +1);
      return result;
    };
    persistence.outgoingClearMessageId = async (client, packet) => {
      const removed = await clear(client, packet);
      if (removed !== undefined && removed !== null) this.adjust(client.id, -1);
      return removed;
    };
  }

  /** True if one more message fits in `recipient`'s queue. */
  async admit(recipient: string): Promise<boolean> {
    return (await this.depth(recipient)) < this.maxQueued;
  }

  /** Messages held for `recipient` (queued or in flight). */
  async depth(recipient: string): Promise<number> {
    const known = this.counts.get(recipient);
    if (known !== undefined) return known;
    const pending = this.loading.get(recipient);
    if (pending !== undefined) return pending.promise;
    const entry = { promise: this.load(recipient), delta: 0 };
    this.loading.set(recipient, entry);
    return entry.promise;
  }

  private async load(recipient: string): Promise<number> {
    try {
      let n = 0;
      for await (const packet of this.persistence.outgoingStream({ id: recipient }) as AsyncIterable<QueuedPacket>) {
        if (packet !== undefined) n++;
      }
      const count = Math.max(0, n + (this.loading.get(recipient)?.delta ?? 0));
      this.counts.set(recipient, count);
      return count;
    } finally {
      this.loading.delete(recipient);
    }
  }

  private adjust(clientId: string, by: number): void {
    const known = this.counts.get(clientId);
    if (known !== undefined) {
      this.counts.set(clientId, Math.max(0, known + by));
      return;
    }
    const pending = this.loading.get(clientId);
    if (pending !== undefined) pending.delta += by;
    // Otherwise the count is not loaded yet: the first admit() reads it from the store.
  }
}
