import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import {
  ONE_TIME_PREKEYS_LOW_WATER,
  ONE_TIME_PREKEYS_TARGET,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATE_MS,
} from './limits.ts';
import {
  consumeOneTimePrekey,
  createPrekeyState,
  currentSignedPrekey,
  decodePrekeyState,
  encodePrekeyState,
  maintainPrekeys,
  oneTimePrekeyCount,
  requireOneTimePrekey,
  requireSignedPrekey,
  type PrekeyState,
} from './prekeys.ts';
import { codeOf, fuzzDecoder } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
const T0 = 1_700_000_000_000;
const DAY = 24 * 3600 * 1000;

function consumeMany(s: PrekeyState, n: number): PrekeyState {
  let out = s;
  for (const k of s.oneTimePrekeys.slice(0, n)) out = consumeOneTimePrekey(out, k.id);
  return out;
}

describe('prekey state', () => {
  it('starts with one signed prekey and the target number of one-time prekeys', () => {
    const s = createPrekeyState(crypto, T0);
    expect(currentSignedPrekey(s).id).toBe(1);
    expect(currentSignedPrekey(s).createdAt).toBe(T0);
    expect(oneTimePrekeyCount(s)).toBe(ONE_TIME_PREKEYS_TARGET);
    expect(s.oneTimePrekeys.map((k) => k.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(maintainPrekeys(crypto, s, T0 + DAY).changed).toBe(false);
  });

  it('rotates the signed prekey after 7 days and keeps the old one 30 days, then deletes it', () => {
    const s0 = createPrekeyState(crypto, T0);
    expect(maintainPrekeys(crypto, s0, T0 + SIGNED_PREKEY_ROTATE_MS - 1).changed).toBe(false);
    const r1 = maintainPrekeys(crypto, s0, T0 + SIGNED_PREKEY_ROTATE_MS);
    expect(r1.changed).toBe(true);
    expect(currentSignedPrekey(r1.next).id).toBe(2);
    expect(requireSignedPrekey(r1.next, 1).retiredAt).toBe(T0 + SIGNED_PREKEY_ROTATE_MS);
    expect(s0.signedPrekeys).toHaveLength(1); // input untouched
    const retired = T0 + SIGNED_PREKEY_ROTATE_MS;
    // still in grace just before 30 days (SPK 2 does not rotate yet if we check before its own 7 days)
    const within = maintainPrekeys(crypto, r1.next, retired + SIGNED_PREKEY_ROTATE_MS - 1);
    expect(requireSignedPrekey(within.next, 1).id).toBe(1);
    const after = maintainPrekeys(crypto, r1.next, retired + SIGNED_PREKEY_GRACE_MS);
    expect(after.deletedSignedPrekeyIds).toEqual([1]);
    expect(codeOf(() => requireSignedPrekey(after.next, 1))).toBe('StalePrekey');
  });

  it('refills one-time prekeys below the low-water mark, never reissuing a consumed id', () => {
    const s0 = createPrekeyState(crypto, T0);
    const above = consumeMany(s0, ONE_TIME_PREKEYS_TARGET - ONE_TIME_PREKEYS_LOW_WATER);
    expect(oneTimePrekeyCount(above)).toBe(ONE_TIME_PREKEYS_LOW_WATER);
    expect(maintainPrekeys(crypto, above, T0).changed).toBe(false);
    const below = consumeOneTimePrekey(above, above.oneTimePrekeys[0]!.id);
    const r = maintainPrekeys(crypto, below, T0);
    expect(r.changed).toBe(true);
    expect(oneTimePrekeyCount(r.next)).toBe(ONE_TIME_PREKEYS_TARGET);
    const ids = r.next.oneTimePrekeys.map((k) => k.id);
    expect(new Set(ids).size).toBe(ids.length);
    // ids 1..81 were consumed: none comes back
    for (let id = 1; id <= 81; id++) expect(codeOf(() => requireOneTimePrekey(r.next, id))).toBe('StalePrekey');
    expect(Math.min(...ids)).toBe(82);
    expect(Math.max(...ids)).toBe(181);
  });

  it('consuming is first-use-wins: a second use of the same id is StalePrekey', () => {
    const s0 = createPrekeyState(crypto, T0);
    const s1 = consumeOneTimePrekey(s0, 7);
    expect(oneTimePrekeyCount(s0)).toBe(100);
    expect(codeOf(() => consumeOneTimePrekey(s1, 7))).toBe('StalePrekey');
    expect(codeOf(() => requireOneTimePrekey(s1, 7))).toBe('StalePrekey');
  });

  it('round-trips byte for byte, through rotation, consumption and refill', () => {
    let s = createPrekeyState(crypto, T0);
    s = consumeMany(s, 90);
    s = maintainPrekeys(crypto, s, T0 + SIGNED_PREKEY_ROTATE_MS).next;
    const bytes = encodePrekeyState(s);
    const back = decodePrekeyState(bytes);
    expect(encodePrekeyState(back)).toEqual(bytes);
    expect(back.signedPrekeys.map((k) => [k.id, k.retiredAt])).toEqual(s.signedPrekeys.map((k) => [k.id, k.retiredAt]));
    expect(back.oneTimePrekeys.map((k) => k.id)).toEqual(s.oneTimePrekeys.map((k) => k.id));
    expect(back.nextOneTimePrekeyId).toBe(s.nextOneTimePrekeyId);
  });

  it('refuses a record with ids out of order or no current signed prekey', () => {
    const bytes = encodePrekeyState(createPrekeyState(crypto, T0));
    const swapped = bytes.slice();
    // first one-time prekey id (after header 14 bytes, one SPK of 84 bytes, count 2 bytes) set to 0
    const opkStart = 1 + 4 + 4 + 4 + 1 + 84 + 2;
    swapped.set([0, 0, 0, 0], opkStart);
    expect(codeOf(() => decodePrekeyState(swapped))).toBe('DecodeError');
    const notCurrent = bytes.slice();
    notCurrent[1 + 4 + 4 + 4 + 1 + 4 + 8 + 7] = 1; // retiredAt of the last SPK ≠ 0
    expect(codeOf(() => decodePrekeyState(notCurrent))).toBe('DecodeError');
  });

  it('the decoder throws only DecodeError on arbitrary bytes (seed 42)', () => {
    fuzzDecoder(decodePrekeyState, [encodePrekeyState(consumeMany(createPrekeyState(crypto, T0), 97))]);
  });
});
