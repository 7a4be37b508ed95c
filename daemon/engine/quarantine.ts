/**
 * Envelopes held back instead of delivered: from a contact whose identity key
 * changed (until VerifyContact approves the new key), or for a peer whose stored state is corrupt.
 * They stay encrypted, exactly as received, and go through the normal receive path when released.
 * Bounded per sender, so a flood cannot fill the disk.
 */
import type { Logger } from 'pino';
import type { UserId } from '../../core/user-id.ts';
import { counterKey, parseCounterKey } from '../store/kinds.ts';
import type { Store } from '../store/store.ts';
import { decodeQuarantine, encodeQuarantine } from './records.ts';
import type { Transaction } from './transaction.ts';

/** Most envelopes held per sender; later ones are dropped (and logged). */
export const MAX_QUARANTINED_PER_PEER = 1000;

export class Quarantine {
  private nextSeq = 1;
  private readonly perPeer = new Map<UserId, number>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    for await (const rec of this.store.iterate('quarantine')) {
      this.nextSeq = Math.max(this.nextSeq, rec.ok ? parseCounterKey(rec.key) + 1 : this.nextSeq);
      if (!rec.ok) continue;
      const q = decodeQuarantine(rec.value);
      this.perPeer.set(q.from, (this.perPeer.get(q.from) ?? 0) + 1);
    }
  }

  count(peer?: UserId): number {
    if (peer !== undefined) return this.perPeer.get(peer) ?? 0;
    let n = 0;
    for (const c of this.perPeer.values()) n += c;
    return n;
  }

  /** Senders with held envelopes. */
  senders(): UserId[] {
    return [...this.perPeer.keys()];
  }

  /** Holds an envelope; false (nothing added) when the sender's quota is full. */
  add(tx: Transaction, from: UserId, envelope: Uint8Array, receivedAt: number): boolean {
    if ((this.perPeer.get(from) ?? 0) >= MAX_QUARANTINED_PER_PEER) {
      this.log.warn({ peer: from }, 'quarantine full for this peer; envelope dropped');
      return false;
    }
    tx.put('quarantine', counterKey(this.nextSeq++), encodeQuarantine({ from, envelope, receivedAt }));
    tx.onApply(() => this.perPeer.set(from, (this.perPeer.get(from) ?? 0) + 1));
    return true;
  }

  /** The held envelopes of one sender, oldest first (a scan: releases are rare). */
  async heldFrom(peer: UserId): Promise<Array<{ key: string; envelope: Uint8Array }>> {
    const out: Array<{ key: string; envelope: Uint8Array }> = [];
    for await (const rec of this.store.iterate('quarantine')) {
      if (!rec.ok) continue;
      const q = decodeQuarantine(rec.value);
      if (q.from === peer) out.push({ key: rec.key, envelope: q.envelope });
    }
    return out;
  }

  async remove(peer: UserId, key: string): Promise<void> {
    await this.store.del('quarantine', key);
    const n = (this.perPeer.get(peer) ?? 1) - 1;
    if (n <= 0) this.perPeer.delete(peer);
    else this.perPeer.set(peer, n);
  }
}
