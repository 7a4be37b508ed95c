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
import { PEER_CACHE_OVERHEAD, PeerStore } from './peers.ts';
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
    for (const r of small) await put(r);
    expect(peers.cacheUse().peers).toBe(10);
    expect(peers.cacheUse().bytes).toBeLessThanOrEqual(capacity);

    const large = recordWithHeldBack(5, 20_000);
    expect(large.transcript.pending.length).toBe(5);
    await put(large);
    // 100 kB does not fit beside them: every small record went, the large one stays (the newest).
    expect(peers.cacheUse().peers).toBe(1);

    const fresh = new PeerStore(crypto, store, silentLogger, capacity);
    for (const r of [...small, large]) expect(encodePeerRecord((await fresh.load(r.peerUserId)).record!)).toEqual(encodePeerRecord(r));
    await store.close();
  });
});
