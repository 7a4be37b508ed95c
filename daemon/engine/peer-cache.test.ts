/**
 * The peer cache is bounded by the bytes its records hold, not by a count: one peer holding 100 kB
 * of held-back messages displaces many small ones, and what is evicted still loads from the store.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { Party } from '../../core/handshake-vectors/party.ts';
import { createIdentity, encodePeerRecord, newPeerRecord, type PeerRecord } from '../../core/index.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { GHOST_PEERS, PEER_CACHE_OVERHEAD, PeerStore } from './peers.ts';
import { silentLogger } from './test-support.ts';
import { Transaction } from './transaction.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

/** Bob's record of alice holding `held` held-back messages of `size` bytes each (one message lost before them). */
function recordWithHeldBack(held: number, size: number): PeerRecord {
  let t = 1_700_000_000_000;
  const alice = new Party(crypto, t);
  const bob = new Party(crypto, t);
  bob.receive(alice.send(bob, 'hello', (t += 1000)).envelope, (t += 1000));
  alice.send(bob, 'lost', (t += 1000));
  for (let i = 0; i < held; i++) bob.receive(alice.send(bob, 'x'.repeat(size), (t += 1000)).envelope, (t += 1000));
  return bob.peer(alice.userId)!;
}

describe('peer cache', () => {
  it('is bounded by bytes: a large record displaces small ones; evicted records load again from the store', async () => {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32));
    const capacity = 12 * (PEER_CACHE_OVERHEAD + 1024);
    const peers = new PeerStore(crypto, store, silentLogger, capacity);
    const put = async (r: PeerRecord): Promise<void> => {
      const tx = new Transaction();
      peers.write(tx, await peers.load(r.peerUserId), r);
      await tx.commit(store);
    };
    const small = Array.from({ length: 10 }, () => {
      const id = createIdentity(crypto);
      return newPeerRecord(id.userId, id.keyPair.publicKey);
    });
    // Written twice each: the second use admits a peer (a peer used once is not kept: below).
    for (const r of small) await put(r);
    for (const r of small) await put(r);
    expect(peers.cacheUse().peers).toBe(10);
    expect(peers.cacheUse().bytes).toBeLessThanOrEqual(capacity);

    const large = recordWithHeldBack(5, 20_000);
    expect(large.transcript.pending.length).toBe(5);
    await put(large);
    await put(large);
    // 100 kB does not fit beside them: every small record went, the large one stays (the newest).
    expect(peers.cacheUse().peers).toBe(1);

    const fresh = new PeerStore(crypto, store, silentLogger, capacity);
    for (const r of [...small, large]) expect(encodePeerRecord((await fresh.load(r.peerUserId)).record!)).toEqual(encodePeerRecord(r));
    await store.close();
  });

  it('admits a peer on its second use (in flight or soon after), not one used once: a hub\'s rare senders do not churn it', async () => {
    const store = await openMemoryStore(crypto, crypto.randomBytes(32));
    const peers = new PeerStore(crypto, store, silentLogger);
    const fresh = (): PeerRecord => {
      const id = createIdentity(crypto);
      return newPeerRecord(id.userId, id.keyPair.publicKey);
    };
    const once = fresh();
    const tx = new Transaction();
    peers.write(tx, await peers.load(once.peerUserId), once);
    const written = tx.commit(store);
    // While the write is in flight the record stays cached (the store holds an older one until then).
    expect(peers.cacheUse().peers).toBe(1);
    await written;
    expect(peers.cacheUse()).toEqual({ peers: 0, bytes: 0 });
    expect(encodePeerRecord((await peers.load(once.peerUserId)).record!)).toEqual(encodePeerRecord(once));

    // A burst: the second message loads the record while the first one's write is in flight.
    const burst = fresh();
    const first = new Transaction();
    peers.write(first, await peers.load(burst.peerUserId), burst);
    const firstWritten = first.commit(store);
    const second = new Transaction();
    peers.write(second, await peers.load(burst.peerUserId), burst);
    await Promise.all([firstWritten, second.commit(store)]);
    const cached = peers.cacheUse().peers;
    expect(cached).toBeGreaterThanOrEqual(1);

    // Seen once, let go, seen again soon: admitted. Seen again after GHOST_PEERS others: not.
    const put = async (r: PeerRecord): Promise<void> => {
      const t = new Transaction();
      peers.write(t, await peers.load(r.peerUserId), r);
      await t.commit(store);
    };
    const soon = fresh();
    await put(soon);
    expect(peers.cacheUse().peers).toBe(cached);
    await put(soon);
    expect(peers.cacheUse().peers).toBe(cached + 1);
    const late = fresh();
    await put(late);
    for (let i = 0; i < GHOST_PEERS; i++) await put(fresh());
    expect(peers.cacheUse().peers).toBe(cached + 1);
    await put(late);
    expect(peers.cacheUse().peers).toBe(cached + 1);
    await store.close();
  });
});
