import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createIdentity } from '../../core/index.ts';
import type { UserId } from '../../core/user-id.ts';
import { PerPeerInterval } from './per-peer-interval.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
const ids = (n: number): UserId[] => Array.from({ length: n }, () => createIdentity(crypto).userId);

describe('PerPeerInterval', () => {
  it('once per interval for each peer', () => {
    const [a, b] = ids(2) as [UserId, UserId];
    const limit = new PerPeerInterval(1000);
    expect([limit.take(a, 0), limit.take(a, 999), limit.take(b, 999), limit.take(a, 1000)]).toEqual([true, false, true, true]);
  });

  it('forgets entries once they are older than the interval', () => {
    const limit = new PerPeerInterval(1000);
    for (const id of ids(50)) limit.take(id, 0);
    expect(limit.size).toBe(50);
    limit.take(ids(1)[0]!, 1000);
    expect(limit.size).toBe(1);
  });

  it('a stream of distinct ids cannot grow it past its bound: it refuses (the guarded action is skipped) until entries age out', () => {
    const limit = new PerPeerInterval(1000, 8);
    const flood = ids(100);
    const taken = flood.map((id, i) => limit.take(id, i));
    expect(taken.filter(Boolean)).toHaveLength(8);
    expect(limit.size).toBe(8);
    const late = ids(1)[0]!;
    expect(limit.take(late, 1000)).toBe(true); // the first entry (taken at 0) aged out
    expect(limit.size).toBe(8);
  });

  it('wait: the time left of a peer\'s interval, 0 for an unknown or passed one, never more than the interval', () => {
    const [a, b] = ids(2) as [UserId, UserId];
    const limit = new PerPeerInterval(1000);
    limit.take(a, 5000);
    expect([limit.wait(a, 5000), limit.wait(a, 5400), limit.wait(a, 6000), limit.wait(b, 5400)]).toEqual([1000, 600, 0, 0]);
    expect(limit.wait(a, 0)).toBe(1000); // a clock set back
  });
});
