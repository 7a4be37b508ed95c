import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { DecodeError } from './errors.ts';
import {
  decodeRatchetState,
  encodeRatchetState,
  ratchetDecrypt,
  ratchetEncrypt,
  receivingHeaderKeys,
  receivingRoutingTags,
  type RatchetState,
} from './ratchet.ts';
import { STATE_FORMAT_VERSION } from './ratchet-codec.ts';
import { routingTag } from './envelope.ts';
import { enc, hex, newPair } from './vectors/ratchet-fixtures.ts';

let crypto: Crypto;
let states: RatchetState[];

beforeAll(async () => {
  crypto = await createSodiumCrypto();
  // States from every stage: fresh initiator and responder, chains with skipped keys, retired header keys.
  let { alice, bob } = newPair(crypto);
  states = [alice, bob];
  for (let round = 0; round < 7; round++) {
    const sent = [];
    for (let i = 0; i < 3; i++) {
      const e = ratchetEncrypt(crypto, alice, enc(`a${round}.${i}`), round);
      alice = e.next;
      sent.push(e.message);
    }
    bob = ratchetDecrypt(crypto, bob, sent[2]!, round).next; // two keys skipped
    const r = ratchetEncrypt(crypto, bob, enc(`b${round}`), round);
    bob = r.next;
    alice = ratchetDecrypt(crypto, alice, r.message, round).next;
    states.push(alice, bob);
  }
});

describe('ratchet state codec', () => {
  it('round-trips byte for byte at every stage', () => {
    for (const s of states) {
      const bytes = encodeRatchetState(s);
      const again = encodeRatchetState(decodeRatchetState(bytes));
      expect(hex(again)).toBe(hex(bytes));
    }
  });

  it('a decoded state behaves exactly like the original', () => {
    const bob = states[states.length - 1]!;
    const alice = states[states.length - 2]!;
    const e = ratchetEncrypt(crypto, decodeRatchetState(encodeRatchetState(alice)), enc('after restart'), 10);
    const d = ratchetDecrypt(crypto, decodeRatchetState(encodeRatchetState(bob)), e.message, 10);
    expect(new TextDecoder().decode(d.plaintext)).toBe('after restart');
  });

  it('checks the version byte first (v1, before routing tags were stored, is refused too)', () => {
    for (const version of [STATE_FORMAT_VERSION + 1, 1, 0]) {
      const bytes = encodeRatchetState(states[0]!);
      bytes[0] = version;
      try {
        decodeRatchetState(bytes);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
        expect((e as DecodeError).code).toBe('UnsupportedVersion');
      }
    }
  });

  it('keeps the routing tag of every receiving header key, and the sending one, through the codec', () => {
    for (const s of states) {
      const decoded = decodeRatchetState(encodeRatchetState(s));
      const expected = receivingHeaderKeys(s).map((hk) => hex(routingTag(crypto, hk)));
      expect(receivingRoutingTags(decoded).map(hex)).toEqual(expected);
      expect(receivingRoutingTags(s).map(hex)).toEqual(expected);
      if (s.hks !== null) expect(hex(decoded.hksTag!)).toBe(hex(routingTag(crypto, s.hks)));
    }
  });

  it('rejects truncation and trailing bytes', () => {
    const bytes = encodeRatchetState(states[5]!);
    for (let cut = 0; cut < bytes.length; cut += 7) expect(() => decodeRatchetState(bytes.subarray(0, cut))).toThrow(DecodeError);
    expect(() => decodeRatchetState(new Uint8Array([...bytes, 0]))).toThrow(DecodeError);
  });

  it('arbitrary bytes and mutated encodings throw only DecodeError; what decodes re-encodes identically', () => {
    const encodings = states.map(encodeRatchetState);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 700 }),
          fc
            .tuple(fc.nat(encodings.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }))
            .map(([i, flips]) => {
              const b = encodings[i]!.slice();
              for (const [at, x] of flips) b[at % b.length] = b[at % b.length]! ^ x;
              return b;
            }),
        ),
        (bytes) => {
          let decoded: RatchetState;
          try {
            decoded = decodeRatchetState(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
            return;
          }
          expect(hex(encodeRatchetState(decoded))).toBe(hex(bytes));
        },
      ),
      { seed: 42, numRuns: 3000 },
    );
  });
});
