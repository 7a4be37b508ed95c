/**
 * Which queued packet each (client, MQTT message id) stands for, in memory.
 *
 * Aedes gives a queued packet a message id when it sends it (outgoingUpdate) and looks the packet up
 * by that id when the PUBACK comes back (outgoingClearMessageId). aedes-persistence-level kept this
 * map on disk as a second copy of every packet in flight (`outgoing-id:` records: two more writes
 * and a read per message). The id is also inside the queued packet's own record, which is what a
 * restart needs: Aedes resends a queued packet with the id it has and records it again here before
 * the client can acknowledge it. So new ids live only here; `outgoing-id:` records found on disk
 * (a data dir of the old persistence) are loaded at setup, marked, and deleted when done with.
 */

export interface InFlight {
  /** The queue record's key (`outgoing:…`). */
  readonly queueKey: string;
  /** An `outgoing-id:` record exists on disk for it (old layout): delete it with the packet. */
  readonly idRecordOnDisk: boolean;
}

export class MessageIdIndex {
  private readonly byClient = new Map<string, Map<number, InFlight>>();

  get(clientId: string, messageId: number | undefined): InFlight | undefined {
    if (typeof messageId !== 'number') return undefined;
    return this.byClient.get(clientId)?.get(messageId);
  }

  set(clientId: string, messageId: number, entry: InFlight): void {
    let ids = this.byClient.get(clientId);
    if (ids === undefined) {
      ids = new Map();
      this.byClient.set(clientId, ids);
    }
    ids.set(messageId, entry);
  }

  /** Removes and returns the entry. */
  take(clientId: string, messageId: number | undefined): InFlight | undefined {
    if (typeof messageId !== 'number') return undefined;
    const ids = this.byClient.get(clientId);
    const entry = ids?.get(messageId);
    if (entry === undefined) return undefined;
    ids?.delete(messageId);
    if (ids?.size === 0) this.byClient.delete(clientId);
    return entry;
  }
}
