/**
 * The routing-tag index is held whole in memory: an envelope finds its peer without a store read,
 * whether or not the peer's record is cached, also after a restart (loaded from the store at start);
 * tags a DH step retires and tags of a removed peer route nowhere; an unknown tag costs no read.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { Party } from '../../core/handshake-vectors/party.ts';
import { decodeEnvelope, sessionRoutingTagViews, type PeerRecord } from '../../core/index.ts';
import { createMemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { PEER_CACHE_OVERHEAD, PeerStore } from './peers.ts';
import { silentLogger } from './test-support.ts';
import { Transaction } from './transaction.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

/** Every receiving tag of the record's sessions. */
function tagsOf(r: PeerRecord): Uint8Array[] {
  return [r.active!, ...r.archived].flatMap((s) => sessionRoutingTagViews(s).map((t) => t.slice()));
}

describe('routing-tag index', () => {
  it('routes from memory (cached or not, after a restart), forgets retired tags and removed peers, reads nothing for an unknown tag', async () => {
    let t = 1_700_000_000_000;
    const tick = (): number => (t += 1000);
    const bob = new Party(crypto, t);
    const alices = Array.from({ length: 20 }, () => new Party(crypto, t));
    for (const a of alices) {
      bob.publish(tick()); // each first contact takes one of the bundle's one-time prekeys
      bob.receive(a.send(bob, 'hello', tick()).envelope, tick());
    }

    const memory = createMemoryBackend();
    let reads = 0;
    const counting = Object.assign(Object.create(memory) as typeof memory, {
      async get(key: string) {
        reads += 1;
        return memory.get(key);
      },
    });
    const store = await openMemoryStore(crypto, crypto.randomBytes(32), counting);
    // A cache for about two records: most peers are not cached.
    const peers = new PeerStore(crypto, store, silentLogger, 2 * (PEER_CACHE_OVERHEAD + 2048));
    for (const a of alices) {
      const tx = new Transaction();
      peers.write(tx, await peers.load(a.own().userId), bob.peer(a.own().userId)!);
      await tx.commit(store);
    }
    expect(peers.cacheUse().peers).toBeLessThan(5);

    const before = reads;
    for (const a of alices) for (const tag of tagsOf(bob.peer(a.own().userId)!)) expect(peers.lookupTag(tag)).toBe(a.own().userId);
    expect(peers.lookupTag(crypto.randomBytes(16))).toBeUndefined();
    expect(reads).toBe(before);

    // Bob and the first alice take turns: every turn is a DH step, and after more than
    // SKIPPED_KEY_MAX_DH_STEPS of them the first header keys (and their tags) are retired.
    const first = alices[0]!;
    const firstId = first.own().userId;
    const oldTags = tagsOf(bob.peer(firstId)!);
    for (let turn = 0; turn < 8; turn++) {
      first.receive(bob.send(first, { kind: 'receipt', upToSeq: 1 }, tick()).envelope, tick());
      const reply = decodeEnvelope(first.send(bob, `turn ${turn}`, tick()).envelope);
      if (reply.kind !== 'session') throw new Error('expected a session envelope');
      if (turn === 0) expect(peers.lookupTag(reply.tag)).toBe(firstId); // NHKr's tag was indexed with the record
      bob.receive(first.send(bob, `turn ${turn} again`, tick()).envelope, tick());
    }
    const stepped = bob.peer(firstId)!;
    const tx = new Transaction();
    peers.write(tx, await peers.load(firstId), stepped);
    await tx.commit(store);
    const newTags = tagsOf(stepped);
    const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');
    const retired = oldTags.filter((o) => !newTags.some((n) => hex(n) === hex(o)));
    expect(retired.length).toBeGreaterThan(0);
    for (const tag of newTags) expect(peers.lookupTag(tag)).toBe(firstId);
    for (const tag of retired) expect(peers.lookupTag(tag)).toBeUndefined();

    // A restart: the index comes back from the store, as it was.
    const restarted = new PeerStore(crypto, store, silentLogger);
    await restarted.loadTagIndex();
    expect(restarted.indexedTags).toBe(peers.indexedTags);
    for (const tag of newTags) expect(restarted.lookupTag(tag)).toBe(firstId);
    for (const tag of retired) expect(restarted.lookupTag(tag)).toBeUndefined();

    // A removed peer's tags route nowhere, in memory and after a restart.
    const gone = alices[1]!.own().userId;
    const goneTags = tagsOf(bob.peer(gone)!);
    const rm = new Transaction();
    restarted.remove(rm, await restarted.load(gone));
    await rm.commit(store);
    for (const tag of goneTags) expect(restarted.lookupTag(tag)).toBeUndefined();
    const again = new PeerStore(crypto, store, silentLogger);
    await again.loadTagIndex();
    for (const tag of goneTags) expect(again.lookupTag(tag)).toBeUndefined();
    expect(again.indexedTags).toBe(restarted.indexedTags);
    await store.close();
  });
});
