/**
 * The bytes a message writes to the store do not grow with what the peer record holds: a record
 * with 20 archived sessions, ~2,000 skipped keys and a hundred held-back messages costs a message
 * what a record with one session and one skipped key does (measured at the raw backend, i.e. the
 * sealed records as LevelDB gets them). In schema v1 the whole record was rewritten per message.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { Party } from '../../core/handshake-vectors/party.ts';
import { decodeEnvelope, decryptFromPeer, encodePeerRecord, peerSkippedKeyCount, type PeerRecord } from '../../core/index.ts';
import type { RawOp } from '../store/backend.ts';
import { createMemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { PeerStore } from './peers.ts';
import { silentLogger } from './test-support.ts';
import { Transaction } from './transaction.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

interface Shape {
  /** Fresh sessions alice starts after the first (each archives the one before at bob). */
  sessions: number;
  /** Messages lost on each session before one arrives (each leaves that many skipped keys). */
  lostPerSession: number;
  /** Lost on the last (active) session. */
  lostOnActive: number;
}

/** Bob's record of alice built with the core, then the bytes each of `messages` further in-order messages writes through a PeerStore. */
async function bytesPerMessage(shape: Shape, messages = 5): Promise<{ perMessage: number[]; record: PeerRecord }> {
  let t = 1_700_000_000_000;
  const tick = (): number => (t += 1000);
  const alice = new Party(crypto, t);
  const bob = new Party(crypto, t);
  bob.receive(alice.send(bob, 'hello', tick()).envelope, tick());
  alice.receive(bob.send(alice, { kind: 'receipt', upToSeq: 1 }, tick()).envelope, tick());
  for (let s = 0; s <= shape.sessions; s++) {
    if (s > 0) {
      bob.publish(tick());
      alice.connect(bob, tick());
    }
    const lost = s === shape.sessions ? shape.lostOnActive : shape.lostPerSession;
    for (let i = 0; i < lost; i++) alice.send(bob, `lost ${s}/${i}`, tick());
    bob.receive(alice.send(bob, `arrives ${s}`, tick()).envelope, tick());
  }
  alice.receive(bob.send(alice, { kind: 'receipt', upToSeq: 1 }, tick()).envelope, tick()); // the active session is answered
  // From here bob's record lives in a PeerStore over a store whose backend counts what it is given.
  const memory = createMemoryBackend();
  const written: number[] = [];
  const counting = Object.assign(Object.create(memory) as typeof memory, {
    async batch(ops: readonly RawOp[]) {
      written.push(ops.reduce((n, op) => n + op.key.length + (op.type === 'put' ? op.value.length : 0), 0));
      return memory.batch(ops);
    },
  });
  const store = await openMemoryStore(crypto, crypto.randomBytes(32), counting);
  const peers = new PeerStore(crypto, store, silentLogger);
  const initial = bob.peer(alice.userId)!;
  const tx = new Transaction();
  peers.write(tx, await peers.load(alice.userId), initial);
  await tx.commit(store);
  let record = initial;
  const perMessage: number[] = [];
  for (let i = 0; i < messages; i++) {
    const env = decodeEnvelope(alice.send(bob, `measured ${i}`, tick()).envelope);
    if (env.kind !== 'session') throw new Error('expected a session envelope');
    const handle = await peers.load(alice.userId);
    const r = decryptFromPeer(crypto, handle.record!, env, tick());
    const before = written.length;
    const step = new Transaction();
    peers.write(step, handle, r.next);
    await step.commit(store);
    perMessage.push(written.slice(before).reduce((a, b) => a + b, 0));
    record = r.next;
  }
  // What was written reads back as the same record.
  const again = new PeerStore(crypto, store, silentLogger);
  expect(encodePeerRecord((await again.load(alice.userId)).record!)).toEqual(encodePeerRecord(record));
  await store.close();
  return { perMessage, record };
}

describe('per-message write cost', () => {
  it('does not grow with the archived sessions, skipped keys and held-back messages a peer record holds', async () => {
    const small = await bytesPerMessage({ sessions: 0, lostPerSession: 0, lostOnActive: 1 });
    const large = await bytesPerMessage({ sessions: 20, lostPerSession: 45, lostOnActive: 999 });
    expect(small.record.archived.length).toBe(0);
    expect(peerSkippedKeyCount(small.record)).toBe(1);
    expect(large.record.archived.length).toBe(20);
    expect(peerSkippedKeyCount(large.record)).toBeGreaterThanOrEqual(1800);
    expect(large.record.transcript.pending.length).toBeGreaterThan(20);
    const wholeRecord = encodePeerRecord(large.record).length;
    expect(wholeRecord).toBeGreaterThan(80_000); // what v1 rewrote per message

    const smallMax = Math.max(...small.perMessage);
    const largeMax = Math.max(...large.perMessage);
    // The head of the large record lists its 21 sessions (4 bytes each) and skipped-key counts: a few
    // hundred bytes more, not the ~100 kB it holds.
    expect(largeMax).toBeLessThan(smallMax + 512);
    expect(largeMax).toBeLessThan(wholeRecord / 20);
  });
});
