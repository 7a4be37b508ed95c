/**
 * Tampering, forgeries and foreign messages ("every bit of header,
 * nonce, ciphertext and tag flipped; AD, reflection and cross-session messages rejected; a forged
 * ratchet key commits nothing", low-order and malformed keys, decoders fed arbitrary bytes).
 * Every rejection must leave the receiver's encoded state byte-identical.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { DecodeError, DecryptError } from './errors.ts';
import { ENCRYPTED_HEADER_BYTES, decryptHeader, encodeHeader, encryptHeader, type Header } from './header.ts';
import { ratchetDecrypt, ratchetEncrypt, type RatchetState } from './ratchet.ts';
import { Peer, enc, newPair, snap, thrownCode, unhex } from './vectors/ratchet-fixtures.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

function pair(ad?: Uint8Array): { alice: Peer; bob: Peer } {
  const p = newPair(crypto, 0, ad);
  return { alice: new Peer(crypto, p.alice), bob: new Peer(crypto, p.bob) };
}

function expectRejected(state: RatchetState, message: Uint8Array, code: string): void {
  const before = snap(state);
  expect(thrownCode(() => ratchetDecrypt(crypto, state, message, 0))).toBe(code);
  expect(snap(state)).toBe(before);
}

/** Flips every bit of `message`; each variant must be BadMessage with no state change. */
function flipEveryBit(state: RatchetState, message: Uint8Array): number {
  const before = snap(state);
  let rejected = 0;
  for (let bit = 0; bit < message.length * 8; bit++) {
    const m = message.slice();
    m[bit >> 3] = m[bit >> 3]! ^ (1 << (bit & 7));
    const code = thrownCode(() => ratchetDecrypt(crypto, state, m, 0));
    if (code !== 'BadMessage') throw new Error(`bit ${bit}: ${code}`);
    rejected++;
  }
  expect(snap(state)).toBe(before);
  return rejected;
}

/** Re-encrypts the header of `message` (made under `hk`) with some fields replaced. */
function reheader(message: Uint8Array, hk: Uint8Array, patch: Partial<Header>): Uint8Array {
  const h = decryptHeader(crypto, hk, message.subarray(0, ENCRYPTED_HEADER_BYTES))!;
  const out = message.slice();
  out.set(encryptHeader(crypto, hk, crypto.randomBytes(24), { ...h, ...patch }), 0);
  return out;
}

describe('every bit flipped → BadMessage, state unchanged', () => {
  it('first message (header under NHKr, DH step path)', () => {
    const { alice, bob } = pair();
    const m = alice.send('first');
    expect(flipEveryBit(bob.state, m)).toBe(m.length * 8);
    expect(bob.receive(m)).toBe('first');
  });

  it('message in the current chain (header under HKr)', () => {
    const { alice, bob } = pair();
    bob.receive(alice.send('first'));
    const m = alice.send('second');
    flipEveryBit(bob.state, m);
    expect(bob.receive(m)).toBe('second');
  });

  it('message of an older chain whose key was skipped (header under a retired key)', () => {
    const { alice, bob } = pair();
    const late = alice.send('late');
    bob.receive(alice.send('on time'));
    alice.receive(bob.send('reply'));
    bob.receive(alice.send('new chain'));
    flipEveryBit(bob.state, late);
    expect(bob.receive(late)).toBe('late');
  });
});

describe('foreign messages', () => {
  it('wrong AD → BadMessage', () => {
    const p = newPair(crypto);
    const otherAd = new Peer(crypto, p.bob.with({ ad: crypto.randomBytes(70) })); // same keys, another AD
    const m = new Peer(crypto, p.alice).send('bound to AD');
    expectRejected(otherAd.state, m, 'BadMessage');
    expect(new Peer(crypto, p.bob).receive(m)).toBe('bound to AD');
  });

  it('reflection: Alice’s own messages fed back to Alice → BadMessage', () => {
    const { alice, bob } = pair();
    const first = alice.send('a0');
    expectRejected(alice.state, first, 'BadMessage');
    bob.receive(first);
    alice.receive(bob.send('b0'));
    const later = alice.send('a1');
    expectRejected(alice.state, later, 'BadMessage');
    const b1 = bob.send('b1');
    expectRejected(bob.state, b1, 'BadMessage');
    expect(bob.receive(later)).toBe('a1');
  });

  it('cross-session: a message of another session → BadMessage', () => {
    const s1 = pair();
    const s2 = pair();
    s2.bob.receive(s2.alice.send('s2 first'));
    expectRejected(s2.bob.state, s1.alice.send('s1 first'), 'BadMessage');
    s1.bob.receive(s1.alice.send('s1 second'));
    expectRejected(s2.bob.state, s1.alice.send('s1 third'), 'BadMessage');
  });
});

describe('forged headers (made by someone holding the header key)', () => {
  it('a forged ratchet key under NHKr commits nothing; the genuine message still decrypts', () => {
    const { alice, bob } = pair();
    bob.receive(alice.send('a0'));
    alice.receive(bob.send('b0'));
    const e = ratchetEncrypt(crypto, alice.state, enc('genuine'), 0); // a DH-step message for Bob
    const forged = reheader(e.message, e.headerKey, { dh: crypto.x25519KeyPair().publicKey });
    expectRejected(bob.state, forged, 'BadMessage');
    expect(bob.receive(e.message)).toBe('genuine');
    expect(alice.receive(bob.send('b1'))).toBe('b1');
  });

  it('a different ratchet key under HKr (current chain) → BadMessage', () => {
    const { alice, bob } = pair();
    bob.receive(alice.send('a0'));
    const e = ratchetEncrypt(crypto, alice.state, enc('genuine'), 0);
    expectRejected(bob.state, reheader(e.message, e.headerKey, { dh: crypto.x25519KeyPair().publicKey }), 'BadMessage');
    expect(bob.receive(e.message)).toBe('genuine');
  });

  it('low-order ratchet keys → InvalidKey (the one X25519 public-key check refuses them) with no state change', () => {
    const { alice, bob } = pair();
    const e = ratchetEncrypt(crypto, alice.state, enc('genuine'), 0);
    for (const point of [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ]) {
      expectRejected(bob.state, reheader(e.message, e.headerKey, { dh: unhex(point) }), 'InvalidKey');
    }
    expect(bob.receive(e.message)).toBe('genuine');
  });

  it('a ratchet key with the top bit set → InvalidKey; an unknown header version → UnsupportedVersion', () => {
    const { alice, bob } = pair();
    const e = ratchetEncrypt(crypto, alice.state, enc('genuine'), 0);
    const topBit = crypto.x25519KeyPair().publicKey;
    topBit[31] = topBit[31]! | 0x80;
    expectRejected(bob.state, reheader(e.message, e.headerKey, { dh: topBit }), 'InvalidKey');
    const h = decryptHeader(crypto, e.headerKey, e.message.subarray(0, ENCRYPTED_HEADER_BYTES))!;
    const plain = encodeHeader(h);
    plain[0] = 2;
    const nonce = crypto.randomBytes(24);
    const v2 = e.message.slice();
    v2.set(nonce, 0);
    v2.set(crypto.aeadEncrypt(e.headerKey, nonce, plain, new Uint8Array(0)), 24);
    expectRejected(bob.state, v2, 'UnsupportedVersion');
    expect(bob.receive(e.message)).toBe('genuine');
  });
});

describe('ratchetDecrypt fed arbitrary bytes', () => {
  it('throws only DecodeError or DecryptError and changes nothing', () => {
    const { alice, bob } = pair();
    bob.receive(alice.send('a0'));
    const genuine = [alice.send('a1'), alice.send('a2')];
    const before = snap(bob.state);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1200 }),
          fc.uint8Array({ minLength: 384, maxLength: 384 }),
          fc.tuple(fc.nat(1), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(400)).map(([i, at, x, cut]) => {
            const m = genuine[i]!.slice();
            m[at % m.length] = m[at % m.length]! ^ x;
            return cut < 20 ? m.subarray(0, m.length - cut) : m;
          }),
        ),
        (bytes) => {
          try {
            ratchetDecrypt(crypto, bob.state, bytes, 0);
            expect.unreachable('a random or corrupted message decrypted');
          } catch (e) {
            expect(e instanceof DecodeError || e instanceof DecryptError).toBe(true);
          }
        },
      ),
      { seed: 42, numRuns: 1500 },
    );
    expect(snap(bob.state)).toBe(before);
    expect(bob.receive(genuine[1]!)).toBe('a2');
  });
});
