import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { toHex } from './bytes.ts';
import { MAX_ARCHIVED_SESSIONS, UNACKNOWLEDGED_SESSION_MAX_AGE_MS } from './limits.ts';
import { decodePeerRecord, encodePeerRecord, newPeerRecord, outranks, type Session } from './session.ts';
import { deriveUserId, resendToPeer } from './index.ts';
import { Party } from './handshake-vectors/party.ts';
import { FUZZ } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
const T0 = 1_700_000_000_000;

function activeId(p: Party, other: Party): string {
  const a = p.peer(other.userId)?.active;
  return a === null || a === undefined ? '' : toHex(a.id);
}

function answered(p: Party, other: Party): boolean {
  return p.peer(other.userId)?.active?.pendingHandshake === null;
}

describe('peer record', () => {
  it('prints as [PeerRecord redacted] (JSON, util.inspect, String), also after a decode', async () => {
    const { inspect } = await import('node:util');
    const key = crypto.ed25519KeyPair().publicKey;
    const fresh = newPeerRecord(deriveUserId(crypto, key), key);
    for (const peer of [fresh, decodePeerRecord(encodePeerRecord(fresh))]) {
      expect(JSON.stringify({ peer })).toBe('{"peer":"[PeerRecord redacted]"}');
      expect(inspect({ peer }, { depth: 5 })).toBe('{ peer: [PeerRecord redacted] }');
      expect(String(peer)).toBe('[PeerRecord redacted]');
      expect(peer.peerUserId).toBe(fresh.peerUserId);
    }
  });
});

describe('session ranking', () => {
  it('orders by epoch, then by id', () => {
    const s = (epoch: number, first: number) => ({ epoch, id: Uint8Array.of(first, ...new Uint8Array(15)) }) as Session;
    expect(outranks(s(2, 0), s(1, 9))).toBe(true);
    expect(outranks(s(1, 9), s(2, 0))).toBe(false);
    expect(outranks(s(1, 9), s(1, 8))).toBe(true);
    expect(outranks(s(1, 8), s(1, 8))).toBe(false);
  });

  it('a session started after seeing another one outranks it, even with a clock that went back', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    bob.receive(alice.send(bob, 'a', T0 + 1_000_000).envelope, T0);
    bob.connect(alice, T0); // Bob's clock is behind Alice's
    const rec = bob.peer(alice.userId)!;
    expect(outranks(rec.active!, rec.archived[0]!)).toBe(true);
    expect(rec.active!.epoch).toBe(rec.archived[0]!.epoch + 1);
  });

  it('keeps at most MAX_ARCHIVED_SESSIONS archived sessions', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    for (let i = 0; i < MAX_ARCHIVED_SESSIONS + 3; i++) {
      alice.connect(bob, T0 + i);
      bob.publish(T0 + i);
    }
    const rec = alice.peer(bob.userId)!;
    expect(rec.archived).toHaveLength(MAX_ARCHIVED_SESSIONS);
  });
});

describe('simultaneous initiation', () => {
  it('both sides converge to one session and stay there, whatever the interleaving (seed 42)', () => {
    type Op = { op: 'sendA' | 'sendB' | 'deliverAB' | 'deliverBA'; pick: number };
    const op = fc.record({ op: fc.constantFrom('sendA', 'sendB', 'deliverAB', 'deliverBA'), pick: fc.nat() }) as fc.Arbitrary<Op>;
    fc.assert(
      fc.property(fc.array(op, { minLength: 4, maxLength: 40 }), (schedule) => {
        const alice = new Party(crypto, T0);
        const bob = new Party(crypto, T0);
        const ab: Uint8Array[] = [];
        const ba: Uint8Array[] = [];
        const sentA: string[] = [];
        const sentB: string[] = [];
        const gotA: string[] = [];
        const gotB: string[] = [];
        let n = 0;
        const sendA = () => {
          sentA.push(`a${n}`);
          ab.push(alice.send(bob, `a${n++}`, T0).envelope);
        };
        const sendB = () => {
          sentB.push(`b${n}`);
          ba.push(bob.send(alice, `b${n++}`, T0).envelope);
        };
        const deliver = (q: Uint8Array[], to: Party, got: string[], pick: number) => {
          if (q.length === 0) return;
          const [e] = q.splice(pick % q.length, 1);
          got.push(...Party.texts(to.receive(e!, T0)));
        };
        // both initiate before either hears from the other
        sendA();
        sendB();
        let converged: string | null = null;
        const check = () => {
          const a = activeId(alice, bob);
          const b = activeId(bob, alice);
          if (converged !== null) {
            // once both agree and both were answered, nothing moves them
            expect(a).toBe(converged);
            expect(b).toBe(converged);
          } else if (a !== '' && a === b && answered(alice, bob) && answered(bob, alice)) {
            converged = a;
          }
        };
        for (const s of schedule) {
          if (s.op === 'sendA') sendA();
          else if (s.op === 'sendB') sendB();
          else if (s.op === 'deliverAB') deliver(ab, bob, gotB, s.pick);
          else deliver(ba, alice, gotA, s.pick);
          check();
        }
        // drain in arrival order, then a quiet round trip
        while (ab.length > 0 || ba.length > 0) {
          deliver(ab, bob, gotB, 0);
          deliver(ba, alice, gotA, 0);
          check();
        }
        for (let i = 0; i < 2; i++) {
          sendA();
          deliver(ab, bob, gotB, 0);
          sendB();
          deliver(ba, alice, gotA, 0);
          check();
        }
        expect(activeId(alice, bob)).toBe(activeId(bob, alice));
        expect(converged).not.toBeNull();
        // every message delivered exactly once, in order
        expect(gotB).toEqual(sentA);
        expect(gotA).toEqual(sentB);
      }),
      { seed: FUZZ.seed, numRuns: 40 },
    );
  });
});

describe('archived-session promotion', () => {
  it('an archived session that decrypts is promoted once the active one can no longer send, and not before', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    bob.receive(alice.send(bob, 'hi', T0).envelope, T0);
    alice.receive(bob.send(alice, 'hello', T0).envelope, T0);
    const s1 = activeId(alice, bob);
    alice.connect(bob, T0 + 1); // a new session whose handshake never reaches Bob
    const lost = alice.send(bob, 'lost', T0 + 1).content;
    const s2 = activeId(alice, bob);
    expect(s2).not.toBe(s1);
    // within 30 days: Bob's message on S1 is delivered, S2 (newer, usable) stays active
    expect(Party.texts(alice.receive(bob.send(alice, 'early', T0 + 2).envelope, T0 + 2))).toEqual(['early']);
    expect(activeId(alice, bob)).toBe(s2);
    // after 30 days unanswered, S2 cannot send; a message on S1 promotes S1
    const later = T0 + 1 + UNACKNOWLEDGED_SESSION_MAX_AGE_MS;
    expect(Party.texts(alice.receive(bob.send(alice, 'late', later).envelope, later))).toEqual(['late']);
    expect(activeId(alice, bob)).toBe(s1);
    expect(alice.peer(bob.userId)!.archived.map((s) => toHex(s.id))).toContain(s2);
    // Alice now writes on S1 with session envelopes; her outbox re-sends 'lost' (same seq) too
    const reply = alice.send(bob, 'back on S1', later);
    expect(reply.envelope[1]).toBe(1);
    expect(Party.texts(bob.receive(reply.envelope, later))).toEqual([]); // held: seq 2 is missing
    const again = resendToPeer(crypto, alice.own(), alice.peer(bob.userId)!, lost, later);
    alice.store(again.next);
    expect(Party.texts(bob.receive(again.envelope, later))).toEqual(['lost', 'back on S1']);
  });

  it('a message on a session that outranks the active one promotes it', () => {
    const alice = new Party(crypto, T0);
    const bob = new Party(crypto, T0);
    // Bob's session (later epoch) wins; Alice's loses the tie-break and is archived on both sides
    const a1 = alice.send(bob, 'a1', T0).envelope;
    const b1 = bob.send(alice, 'b1', T0 + 5).envelope;
    alice.receive(b1, T0 + 5);
    bob.receive(a1, T0 + 5);
    const winner = activeId(bob, alice);
    expect(activeId(alice, bob)).toBe(winner);
    // Alice's record is restored to the state before she heard of Bob's session (she had only her own);
    // Bob's session is installed again by its next message, and outranks: it is made active
    const rec = alice.peer(bob.userId)!;
    const own = rec.archived.find((s) => toHex(s.id) !== winner)!;
    alice.store({ ...rec, active: own, archived: [rec.active!] });
    expect(activeId(alice, bob)).not.toBe(winner);
    expect(Party.texts(alice.receive(bob.send(alice, 'b2', T0 + 6).envelope, T0 + 6))).toEqual(['b2']);
    expect(activeId(alice, bob)).toBe(winner);
  });
});
