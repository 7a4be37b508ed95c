/**
 * Double Ratchet behaviour (the README's protocol page):
 * conversation, ordering, duplicates, MAX_SKIP on N and PN, skipped-key bounds and expiry, counters.
 * Tampering and forgeries are in ratchet-tamper.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { decryptHeader, encryptHeader } from './header.ts';
import { BODY_SIZE_BUCKETS, MAX_CHAIN_COUNTER, MAX_SKIP, MAX_SKIPPED_KEYS_PER_SESSION, SKIPPED_KEY_MAX_AGE_MS } from './limits.ts';
import {
  canSend,
  expireSkippedKeys,
  hasReceived,
  ratchetDecrypt,
  ratchetEncrypt,
  receivingHeaderKeys,
  receivingRoutingTags,
  skippedKeyTotal,
} from './ratchet.ts';
import { countingCrypto } from './vectors/test-crypto.ts';
import { Peer, enc, hex, newPair, snap, thrownCode } from './vectors/ratchet-fixtures.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

function pair(now = 0): { alice: Peer; bob: Peer } {
  const p = newPair(crypto, now);
  return { alice: new Peer(crypto, p.alice), bob: new Peer(crypto, p.bob) };
}

/** Expects a rejection with `code` that leaves the receiver's encoded state byte-identical. */
function expectRejected(peer: Peer, message: Uint8Array, code: string, now = 0): void {
  const before = snap(peer.state);
  expect(thrownCode(() => peer.receive(message, now))).toBe(code);
  expect(snap(peer.state)).toBe(before);
}

/** Alice sends `count` messages; returns them (index = N in the current chain if it was fresh). */
function burst(peer: Peer, count: number, label: string, now = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(peer.send(`${label}${i}`, now));
  return out;
}

describe('conversation', () => {
  it('many alternating turns, with routing keys, padding buckets and immutable inputs', () => {
    const { alice, bob } = pair();
    expect(hasReceived(bob.state)).toBe(false);
    expect(canSend(bob.state)).toBe(false);
    const lengths = [0, 1, 100, 255, 256, 1023, 3000];
    let [from, to] = [alice, bob];
    for (let turn = 0; turn < 60; turn++) {
      for (let k = 0; k < 1 + (turn % 3); k++) {
        const text = 'x'.repeat(lengths[(turn + k) % lengths.length]!) + `#${turn}.${k}`;
        const before = snap(from.state);
        const e = ratchetEncrypt(crypto, from.state, enc(text), turn);
        expect(snap(from.state)).toBe(before); // the input state is never modified
        from.state = e.next;
        expect(BODY_SIZE_BUCKETS as readonly number[]).toContain(e.message.length - 88 - 24 - 16);
        // the header key used is one the receiver routes on (envelope routing tag)
        expect(receivingHeaderKeys(to.state).map(hex)).toContain(hex(e.headerKey));
        const receiverBefore = snap(to.state);
        const d = ratchetDecrypt(crypto, to.state, e.message, turn);
        expect(snap(to.state)).toBe(receiverBefore);
        to.state = d.next;
        expect(new TextDecoder().decode(d.plaintext)).toBe(text);
      }
      [from, to] = [to, from];
    }
    expect(hasReceived(bob.state) && hasReceived(alice.state)).toBe(true);
    expect(skippedKeyTotal(alice.state) + skippedKeyTotal(bob.state)).toBe(0);
  });

  it('the routing tag names the header key to try first; a wrong or foreign tag changes only the order', () => {
    const { alice, bob } = pair();
    bob.receive(alice.send('a0'));
    alice.receive(bob.send('b0'));
    const late = alice.send('late'); // stays under a chain that gets retired below
    for (let i = 0; i < 2; i++) {
      bob.receive(alice.send(`a${i + 1}`));
      alice.receive(bob.send(`b${i + 1}`));
    }
    bob.receive(alice.send('a3')); // Bob's HKr is now Alice's current sending chain
    const inChain = ratchetEncrypt(crypto, alice.state, enc('in chain'), 0);
    const afterStep = ratchetEncrypt(crypto, bob.state, enc('new chain'), 0);
    const tags = receivingRoutingTags(bob.state); // HKr, NHKr, retired HKr…
    expect(tags.length).toBeGreaterThanOrEqual(3);
    expect(hex(inChain.routingTag)).toBe(hex(tags[0]!));
    const foreign = crypto.randomBytes(16);
    const counting = countingCrypto(crypto);
    for (const tag of [inChain.routingTag, undefined, foreign, ...tags.slice(1)]) {
      counting.reset();
      const d = ratchetDecrypt(counting.crypto, bob.state, inChain.message, 0, tag);
      expect(new TextDecoder().decode(d.plaintext)).toBe('in chain');
      // the right tag (or DR order, where HKr comes first anyway) costs one header decryption
      if (tag === inChain.routingTag || tag === undefined) expect(counting.counts.aeadDecrypt).toBe(2);
      else if (tag !== foreign) expect(counting.counts.aeadDecrypt).toBe(3); // one failed trial under the named key
    }
    // a new chain's first message: its tag names NHKr, which DR order tries second
    expect(hex(afterStep.routingTag)).toBe(hex(receivingRoutingTags(alice.state)[1]!));
    counting.reset();
    ratchetDecrypt(counting.crypto, alice.state, afterStep.message, 0, afterStep.routingTag);
    expect(counting.counts.aeadDecrypt).toBe(2);
    counting.reset();
    ratchetDecrypt(counting.crypto, alice.state, afterStep.message, 0);
    expect(counting.counts.aeadDecrypt).toBe(3);
    // a late message of a retired chain, named by its tag or not: found under the retired key
    expect(new TextDecoder().decode(ratchetDecrypt(crypto, bob.state, late, 0, foreign).plaintext)).toBe('late');
  });

  it('the responder cannot send before it has received (NoSession)', () => {
    const { alice, bob } = pair();
    expect(thrownCode(() => bob.send('too early'))).toBe('NoSession');
    bob.receive(alice.send('hi'));
    expect(canSend(bob.state)).toBe(true);
    expect(alice.receive(bob.send('hello'))).toBe('hello');
  });

  it('refuses a body larger than the largest bucket (MessageTooLarge) without advancing', () => {
    const { alice, bob } = pair();
    const before = snap(alice.state);
    const big = new Uint8Array(BODY_SIZE_BUCKETS[BODY_SIZE_BUCKETS.length - 1]!);
    expect(thrownCode(() => ratchetEncrypt(crypto, alice.state, big, 0))).toBe('MessageTooLarge');
    expect(snap(alice.state)).toBe(before);
    const e = ratchetEncrypt(crypto, alice.state, big.subarray(1), 0);
    expect(ratchetDecrypt(crypto, bob.state, e.message, 0).plaintext.length).toBe(big.length - 1);
  });
});

describe('secrets', () => {
  it('a state prints as [redacted] in JSON and util.inspect', async () => {
    const { inspect } = await import('node:util');
    const { alice } = pair();
    expect(JSON.stringify({ s: alice.state })).toBe('{"s":"[redacted]"}');
    expect(inspect({ s: alice.state }, { depth: 5 })).toBe('{ s: [RatchetState redacted] }');
    expect(String(alice.state)).toBe('[RatchetState redacted]');
  });
});

describe('out-of-order delivery', () => {
  it('within one chain, in any order', () => {
    const { alice, bob } = pair();
    const msgs = burst(alice, 20, 'm');
    const order = [19, 0, 7, 3, 18, 1, 2, 4, 5, 6, 17, 8, 9, 16, 10, 11, 15, 12, 14, 13];
    for (const i of order) expect(bob.receive(msgs[i]!)).toBe(`m${i}`);
    expect(skippedKeyTotal(bob.state)).toBe(0);
  });

  it('across DH ratchet steps', () => {
    const { alice, bob } = pair();
    const a = [alice.send('a0')];
    expect(bob.receive(a[0]!)).toBe('a0');
    a.push(alice.send('a1'), alice.send('a2')); // chain 1, not delivered yet
    const b1 = bob.send('b1');
    expect(alice.receive(b1)).toBe('b1'); // Alice's DH step
    a.push(alice.send('a3'), alice.send('a4')); // chain 2, PN = 3
    const b2 = bob.send('b2'); // Bob still on his chain
    expect(bob.receive(a[4]!)).toBe('a4'); // skips a1, a2 (PN) and a3 (N)
    expect(skippedKeyTotal(bob.state)).toBe(3);
    expect(bob.receive(a[2]!)).toBe('a2');
    expect(bob.receive(a[3]!)).toBe('a3');
    expect(bob.receive(a[1]!)).toBe('a1');
    expect(skippedKeyTotal(bob.state)).toBe(0);
    expect(alice.receive(b2)).toBe('b2');
    for (let i = 0; i < 5; i++) {
      expect(alice.receive(bob.send(`b${i + 3}`))).toBe(`b${i + 3}`);
      expect(bob.receive(alice.send(`a${i + 5}`))).toBe(`a${i + 5}`);
    }
  });
});

describe('duplicates (Duplicate, state byte-identical)', () => {
  it('a message received twice in the current chain', () => {
    const { alice, bob } = pair();
    const m0 = alice.send('m0');
    bob.receive(m0);
    expectRejected(bob, m0, 'Duplicate');
    const m1 = alice.send('m1');
    bob.receive(m1);
    expectRejected(bob, m1, 'Duplicate');
    expectRejected(bob, m0, 'Duplicate');
  });

  it('a message already decrypted from the skipped-key store', () => {
    const { alice, bob } = pair();
    const [m0, m1] = burst(alice, 2, 'm');
    bob.receive(m1!);
    bob.receive(m0!);
    expectRejected(bob, m0!, 'Duplicate');
  });

  it('a message of an old chain after DH steps (found under a retired header key)', () => {
    const { alice, bob } = pair();
    const old = alice.send('old');
    bob.receive(old);
    for (let i = 0; i < 3; i++) {
      alice.receive(bob.send('b'));
      bob.receive(alice.send('a'));
    }
    expectRejected(bob, old, 'Duplicate');
    expect(bob.receive(alice.send('still fine'))).toBe('still fine');
  });
});

describe(`MAX_SKIP = ${MAX_SKIP}`, () => {
  it('on N in the current chain: skipping MAX_SKIP accepted, MAX_SKIP + 1 rejected before any derivation', () => {
    const { alice, bob } = pair();
    bob.receive(alice.send('first')); // Nr = 1
    const msgs = burst(alice, MAX_SKIP + 2, 'n'); // N = 1 .. MAX_SKIP + 2
    const counting = countingCrypto(crypto);
    const before = snap(bob.state);
    expect(thrownCode(() => ratchetDecrypt(counting.crypto, bob.state, msgs[MAX_SKIP + 1]!, 0))).toBe('TooFarAhead');
    expect(snap(bob.state)).toBe(before);
    // only the header was opened: no chain key, message key or DH was computed
    expect([counting.counts.hmac, counting.counts.hkdf, counting.counts.x25519]).toEqual([0, 0, 0]);
    expect(bob.peek(msgs[MAX_SKIP]!)).toBe(`n${MAX_SKIP}`); // N - Nr = MAX_SKIP
  });

  it('on N in a new chain (first message): N = MAX_SKIP accepted, MAX_SKIP + 1 rejected', () => {
    const { alice, bob } = pair();
    const msgs = burst(alice, MAX_SKIP + 2, 'n');
    const counting = countingCrypto(crypto);
    expect(thrownCode(() => ratchetDecrypt(counting.crypto, bob.state, msgs[MAX_SKIP + 1]!, 0))).toBe('TooFarAhead');
    expect([counting.counts.hmac, counting.counts.hkdf, counting.counts.x25519, counting.counts.x25519KeyPair]).toEqual([0, 0, 0, 0]);
    expectRejected(bob, msgs[MAX_SKIP + 1]!, 'TooFarAhead');
    expect(bob.receive(msgs[MAX_SKIP]!)).toBe(`n${MAX_SKIP}`);
    expect(skippedKeyTotal(bob.state)).toBe(MAX_SKIP);
  });

  /** Bob has Nr = 1 in Alice's chain 1; Alice sends `extra` more on it, then a message on chain 2 (PN = 1 + extra). */
  function pnScenario(extra: number): { bob: Peer; next: Uint8Array } {
    const { alice, bob } = pair();
    bob.receive(alice.send('first'));
    burst(alice, extra, 'lost');
    alice.receive(bob.send('reply'));
    return { bob, next: alice.send('after step') };
  }

  it('on PN: skipping MAX_SKIP of the old chain accepted, MAX_SKIP + 1 rejected before any derivation', () => {
    const ok = pnScenario(MAX_SKIP);
    expect(ok.bob.receive(ok.next)).toBe('after step');
    expect(skippedKeyTotal(ok.bob.state)).toBe(MAX_SKIP);
    const bad = pnScenario(MAX_SKIP + 1);
    const counting = countingCrypto(crypto);
    expect(thrownCode(() => ratchetDecrypt(counting.crypto, bad.bob.state, bad.next, 0))).toBe('TooFarAhead');
    expect([counting.counts.hmac, counting.counts.hkdf, counting.counts.x25519, counting.counts.x25519KeyPair]).toEqual([0, 0, 0, 0]);
    expectRejected(bad.bob, bad.next, 'TooFarAhead');
  });
});

describe('skipped-key store bounds and expiry', () => {
  it(`keeps at most ${MAX_SKIPPED_KEYS_PER_SESSION} skipped keys, evicting the oldest`, () => {
    const { alice, bob } = pair();
    const chain1 = burst(alice, 1001, 'c1.');
    bob.receive(chain1[1000]!);
    alice.receive(bob.send('r1'));
    const chain2 = burst(alice, 1001, 'c2.');
    bob.receive(chain2[1000]!);
    expect(skippedKeyTotal(bob.state)).toBe(2000);
    alice.receive(bob.send('r2'));
    const chain3 = burst(alice, 501, 'c3.');
    bob.receive(chain3[500]!);
    expect(skippedKeyTotal(bob.state)).toBe(MAX_SKIPPED_KEYS_PER_SESSION);
    expectRejected(bob, chain1[0]!, 'Duplicate'); // evicted: the 500 oldest keys of chain 1
    expectRejected(bob, chain1[499]!, 'Duplicate');
    expect(bob.receive(chain1[500]!)).toBe('c1.500');
    expect(bob.receive(chain2[0]!)).toBe('c2.0');
    expect(bob.receive(chain3[0]!)).toBe('c3.0');
  });

  it('deletes keys skipped in a chain once 5 more DH steps happened', () => {
    const { alice, bob } = pair();
    const late = alice.send('late');
    bob.receive(alice.send('m1')); // DH step 1 for Bob: N = 0 of this chain is skipped
    expect(skippedKeyTotal(bob.state)).toBe(1);
    const steps: Peer['state'][] = [bob.state];
    for (let i = 0; i < 5; i++) {
      alice.receive(bob.send(`b${i}`));
      bob.receive(alice.send(`a${i}`)); // one more DH step for Bob
      steps.push(bob.state);
    }
    // after 4 more steps the key is still there; after the 5th it is gone
    expect(new Peer(crypto, steps[4]!).peek(late)).toBe('late');
    expect(skippedKeyTotal(steps[5]!)).toBe(0);
    expectRejected(new Peer(crypto, steps[5]!), late, 'Duplicate');
  });

  it('deletes skipped keys older than 30 days (on decrypt, encrypt or a sweep)', () => {
    const t0 = 1_000_000;
    const { alice, bob } = pair(t0);
    const [late, next] = burst(alice, 2, 'm', t0);
    bob.receive(next!, t0);
    expect(skippedKeyTotal(bob.state)).toBe(1);
    expect(bob.peek(late!, t0 + SKIPPED_KEY_MAX_AGE_MS)).toBe('m0');
    expectRejected(bob, late!, 'Duplicate', t0 + SKIPPED_KEY_MAX_AGE_MS + 1);
    expect(skippedKeyTotal(expireSkippedKeys(bob.state, t0 + SKIPPED_KEY_MAX_AGE_MS))).toBe(1);
    expect(skippedKeyTotal(expireSkippedKeys(bob.state, t0 + SKIPPED_KEY_MAX_AGE_MS + 1))).toBe(0);
    const afterSend = ratchetEncrypt(crypto, bob.state, enc('x'), t0 + SKIPPED_KEY_MAX_AGE_MS + 1).next;
    expect(skippedKeyTotal(afterSend)).toBe(0);
  });

  it('stores a fractional or negative clock as whole non-negative milliseconds (the state still encodes)', () => {
    for (const now of [1.5, -5, Number.NaN]) {
      const { alice, bob } = pair();
      const [late, next] = burst(alice, 2, 'm');
      bob.receive(next!, now);
      expect(snap(bob.state).length).toBeGreaterThan(0);
      expect(bob.receive(late!, 0)).toBe('m0');
    }
  });
});

describe('counter exhaustion', () => {
  it(`stops sending at Ns = ${MAX_CHAIN_COUNTER} and refuses N ≥ that on receive (SessionExhausted)`, () => {
    const { alice, bob } = pair();
    bob.receive(alice.send('sync')); // now Alice's CKs = Bob's CKr
    alice.state = alice.state.with({ ns: MAX_CHAIN_COUNTER - 1 });
    bob.state = bob.state.with({ nr: MAX_CHAIN_COUNTER - 1 });
    const e = ratchetEncrypt(crypto, alice.state, enc('last'), 0);
    expect(bob.receive(e.message)).toBe('last');
    alice.state = e.next;
    expect(canSend(alice.state)).toBe(false);
    const before = snap(alice.state);
    expect(thrownCode(() => alice.send('one too many'))).toBe('SessionExhausted');
    expect(snap(alice.state)).toBe(before);
    // a header claiming N = MAX_CHAIN_COUNTER (crafted with the header key) is refused before derivation
    const h = decryptHeader(crypto, e.headerKey, e.message.subarray(0, 88))!;
    const forged = e.message.slice();
    forged.set(encryptHeader(crypto, e.headerKey, crypto.randomBytes(24), { ...h, n: MAX_CHAIN_COUNTER }), 0);
    expectRejected(bob, forged, 'SessionExhausted');
  });
});

describe('nonces', () => {
  it('no repeated nonce in 100k messages (header and body nonces, across DH steps)', () => {
    const { alice, bob } = pair();
    const seen = new Set<string>();
    let total = 0;
    const plaintext = enc('same plaintext every time');
    for (let round = 0; round < 10; round++) {
      let state = alice.state;
      for (let i = 0; i < 10_000; i++) {
        const e = ratchetEncrypt(crypto, state, plaintext, 0);
        state = e.next;
        const m = e.message;
        seen.add(Buffer.from(m.buffer, m.byteOffset, 24).toString('latin1'));
        seen.add(Buffer.from(m.buffer, m.byteOffset + 88, 24).toString('latin1'));
        total += 2;
        if (i % 1000 === 0) bob.receive(m); // keeps PN and N within MAX_SKIP of Bob's Nr
      }
      alice.state = state;
      alice.receive(bob.send(`step ${round}`)); // a DH step between rounds
    }
    expect(total).toBe(200_000);
    expect(seen.size).toBe(total);
  });
});
