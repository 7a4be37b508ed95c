import { describe, expect, it } from 'vitest';
import type { DaemonEvent } from './types.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { UserId } from '../../core/user-id.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { DEFAULT_OUTBOX_POLICY, Outbox } from './outbox.ts';
import { silentLogger } from './test-support.ts';
import { Transaction } from './transaction.ts';

const crypto = await createSodiumCrypto();
const BOB = 'b'.repeat(32) as UserId;

/** A relay whose PUBACKs the test releases one by one. */
function heldRelay(): { relay: RelayTransport; published: Uint8Array[]; ack(): void } {
  const published: Uint8Array[] = [];
  const waiting: Array<() => void> = [];
  const relay = {
    connected: true,
    async publishEnvelope(_to: UserId, envelope: Uint8Array) {
      published.push(envelope.slice());
      await new Promise<void>((resolve) => waiting.push(resolve));
    },
  } as unknown as RelayTransport;
  return { relay, published, ack: () => waiting.shift()?.() };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('outbox', () => {
  it('an envelope replaced while its old one awaits the PUBACK (a re-send after a reset) is published when that PUBACK comes, not at the next retry', async () => {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32));
    const { relay, published, ack } = heldRelay();
    const events: DaemonEvent[] = [];
    // Retries an hour away: only the publish on the replacement itself can send it within this test.
    const policy = { ...DEFAULT_OUTBOX_POLICY, retryInitialMs: 3600_000, retryMaxMs: 3600_000 };
    const outbox = new Outbox(store, relay, (e) => events.push(e), silentLogger, Date.now, policy);
    const first = Uint8Array.of(1, 1, 1);
    const second = Uint8Array.of(2, 2, 2);
    const record = { to: BOB, messageId: crypto.randomBytes(16), contentSeq: 1, content: Uint8Array.of(0), createdAt: Date.now(), envelope: first };

    const tx = new Transaction();
    const seq = outbox.add(tx, record);
    await tx.commit(store);
    void outbox.publish(seq);
    await settle();
    expect(published).toEqual([first]); // in flight: no PUBACK yet

    const replacing = new Transaction();
    outbox.replace(replacing, { ...record, seq, contentSeq: 2, envelope: second });
    await replacing.commit(store);
    void outbox.publish(seq); // what the sender does after re-encrypting on the new session
    await settle();
    ack(); // the broker took the OLD envelope
    await settle();
    expect(published).toEqual([first, second]);

    ack();
    await settle();
    // 'sent' once: the PUBACK of the old envelope does not count for the new one
    expect(events.filter((e) => e.kind === 'delivery' && e.state === 'sent')).toHaveLength(1);
    await outbox.tick();
    await settle();
    expect(published).toEqual([first, second]); // nothing else due
  });
});
