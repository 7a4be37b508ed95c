import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { toHex, utf8 } from './bytes.ts';
import { UNACKNOWLEDGED_SESSION_MAX_AGE_MS } from './limits.ts';
import { ENVELOPE_KIND_PQ_HANDSHAKE, ENVELOPE_KIND_SESSION } from './envelope.ts';
import {
  decodeEnvelope,
  decodePeerRecord,
  decodePrekeyState,
  encodePeerRecord,
  encryptForPeer,
  flushTranscript,
  oneTimePrekeyCount,
  receiptUpTo,
  resendToPeer,
  type Content,
} from './index.ts';
import { Party } from './handshake-vectors/party.ts';
import { codeOf, FUZZ } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
const T0 = 1_700_000_000_000;
const DAY = 24 * 3600 * 1000;

function kindOf(envelope: Uint8Array): number {
  return envelope[1]!;
}

function bodies(cs: readonly Content[]): string[] {
  return cs.filter((c) => c.kind === 'message').map((c) => utf8.decode((c as { body: Uint8Array }).body));
}

describe('protocol facade: a whole conversation, records encoded and decoded between every step', () => {
  it('handshake until the first reply, then session envelopes; 1000+ messages, alternating and one way', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    let now = T0;
    // three messages before any reply: each carries the handshake; one session on Bob's side
    const first = [alice.send(bob, 'a1', now), alice.send(bob, 'a2', now), alice.send(bob, 'a3', now)];
    for (const f of first) expect(kindOf(f.envelope)).toBe(ENVELOPE_KIND_PQ_HANDSHAKE);
    expect(bodies(first.flatMap((f) => bob.receive(f.envelope, now).deliver))).toEqual(['a1', 'a2', 'a3']);
    const bobView = bob.peer(alice.userId)!;
    expect(bobView.archived).toHaveLength(0);
    expect(oneTimePrekeyCount(decodePrekeyState(bob.prekeys))).toBe(99);
    // Bob replies on a session envelope; Alice's next ones are session envelopes too
    const reply = bob.send(alice, 'b1', now);
    expect(kindOf(reply.envelope)).toBe(ENVELOPE_KIND_SESSION);
    expect(Party.texts(alice.receive(reply.envelope, now))).toEqual(['b1']);
    expect(alice.peer(bob.userId)!.active!.pendingHandshake).toBeNull();
    const a4 = alice.send(bob, 'a4', now).envelope;
    expect(kindOf(a4)).toBe(ENVELOPE_KIND_SESSION);
    expect(Party.texts(bob.receive(a4, now))).toEqual(['a4']);
    expect(alice.peer(bob.userId)!.active!.id).toEqual(bob.peer(alice.userId)!.active!.id);

    const received: string[] = [];
    // alternating (a DH ratchet step each time), then a long one-way run
    for (let i = 0; i < 200; i++) {
      now += 1000;
      const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
      received.push(...Party.texts(to.receive(from.send(to, `x${i}`, now).envelope, now)));
    }
    for (let i = 0; i < 900; i++) received.push(...Party.texts(bob.receive(alice.send(bob, `y${i}`, now).envelope, now)));
    expect(received).toHaveLength(200 + 900);
    expect(received.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => `x${i}`));
    expect(received.slice(-900)).toEqual(Array.from({ length: 900 }, (_, i) => `y${i}`));
    expect(receiptUpTo(bob.peer(alice.userId)!, T0)).toBe(4 + 100 + 900);
  });

  it('out-of-order delivery by the relay comes out in order, each message once', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    bob.receive(alice.send(bob, 'hello', T0).envelope, T0);
    alice.receive(bob.send(alice, 'hi', T0).envelope, T0);
    const batch = Array.from({ length: 30 }, (_, i) => alice.send(bob, `m${i}`, T0).envelope);
    fc.assert(
      fc.property(fc.shuffledSubarray(batch, { minLength: batch.length, maxLength: batch.length }), (shuffled) => {
        const snapshot = new Map(bob.peers);
        const index = new Map(bob.tagIndex);
        const got = shuffled.flatMap((e) => Party.texts(bob.receive(e, T0)));
        expect(got).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
        // a copy of any of them is a Duplicate and changes nothing
        const before = bob.snapshot();
        expect(codeOf(() => bob.receive(shuffled[0]!, T0))).toBe('Duplicate');
        expect(bob.snapshot()).toBe(before);
        bob.peers.clear();
        for (const [k, v] of snapshot) bob.peers.set(k, v);
        bob.tagIndex.clear();
        for (const [k, v] of index) bob.tagIndex.set(k, v);
      }),
      { seed: FUZZ.seed, numRuns: 10 },
    );
  });

  it('a retransmission of the same content over the session is deduplicated, not flagged', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const first = alice.send(bob, 'once', T0);
    expect(Party.texts(bob.receive(first.envelope, T0))).toEqual(['once']);
    alice.receive(bob.send(alice, 'ok', T0).envelope, T0);
    const again = resendToPeer(crypto, alice.own(), alice.peer(bob.userId)!, first.content, T0 + 1);
    alice.store(again.next);
    const r = bob.receive(again.envelope, T0 + 1);
    expect(r.duplicate).toBe(true);
    expect(r.deliver).toHaveLength(0);
    expect(Party.texts(bob.receive(alice.send(bob, 'next', T0 + 2).envelope, T0 + 2))).toEqual(['next']);
  });

  it('a dropped message is held as a hole and reported as a gap; receipts never claim it', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    bob.receive(alice.send(bob, 'm1', T0).envelope, T0);
    alice.send(bob, 'm2 (dropped by the relay)', T0);
    const r3 = bob.receive(alice.send(bob, 'm3', T0).envelope, T0);
    expect(r3.deliver).toHaveLength(0);
    const flushed = flushTranscript(crypto, bob.peer(alice.userId)!, T0 + 10 * 60 * 1000);
    expect(flushed.gaps).toEqual([{ from: 2, to: 2 }]);
    expect(bodies(flushed.deliver)).toEqual(['m3']);
    expect(receiptUpTo(flushed.next, T0)).toBe(1);
  });

  it('stale unanswered sessions are not used for sending: NoSession', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    alice.send(bob, 'unanswered', T0);
    const peer = alice.peer(bob.userId)!;
    const later = T0 + UNACKNOWLEDGED_SESSION_MAX_AGE_MS;
    expect(codeOf(() => encryptForPeer(crypto, alice.own(), peer, { kind: 'reset' }, later))).toBe('NoSession');
    expect(kindOf(encryptForPeer(crypto, alice.own(), peer, { kind: 'reset' }, later - 1).envelope)).toBe(ENVELOPE_KIND_PQ_HANDSHAKE);
  });

  it('nothing of the plaintext, the identities or the counters is on the wire', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    const secret = 'the launch code is 0000';
    const envelopes = [alice.send(bob, secret, T0).envelope];
    bob.receive(envelopes[0]!, T0);
    envelopes.push(bob.send(alice, secret, T0).envelope);
    for (const e of envelopes) {
      const h = toHex(e);
      expect(h).not.toContain(toHex(utf8.encode(secret)));
      expect(h).not.toContain(toHex(alice.own().keyPair.publicKey));
      expect(h).not.toContain(toHex(bob.own().keyPair.publicKey));
      expect(h).not.toContain(toHex(utf8.encode(alice.userId)));
    }
    // same bucket whatever the length below it
    const short = bob.send(alice, 'x', T0).envelope;
    const long = bob.send(alice, 'x'.repeat(150), T0).envelope;
    expect(short.length).toBe(long.length);
  });

  it('peer records round-trip byte for byte, and their decoder throws only DecodeError (seed 42)', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    bob.receive(alice.send(bob, 'a', T0).envelope, T0);
    alice.receive(bob.send(alice, 'b', T0).envelope, T0);
    alice.send(bob, 'c', T0);
    const bytes = alice.peers.get(bob.userId)!;
    expect(encodePeerRecord(decodePeerRecord(bytes))).toEqual(bytes);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const m = bytes.slice();
        m[i] = m[i]! ^ x;
        try {
          decodePeerRecord(m);
        } catch (e) {
          if (!(e instanceof Error) || e.name !== 'DecodeError') throw e;
        }
        return true;
      }),
      { seed: FUZZ.seed, numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(() => decodePeerRecord(b)).toThrow(expect.objectContaining({ name: 'DecodeError' }));
      }),
      { seed: FUZZ.seed, numRuns: 1000 },
    );
    expect(decodeEnvelope(alice.send(bob, 'd', T0).envelope).kind).toBe('session');
    void DAY;
  });
});
