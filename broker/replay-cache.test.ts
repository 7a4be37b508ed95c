import { describe, expect, it } from 'vitest';
import { ReplayCache } from './replay-cache.ts';

describe('ReplayCache', () => {
  it('accepts a nonce once and refuses it again within the window', () => {
    const c = new ReplayCache(10, 1000);
    expect(c.check('u', 'u:1', 5000, 5000)).toBe('fresh');
    expect(c.check('u', 'u:1', 5000, 5500)).toBe('replayed');
    expect(c.check('u', 'u:2', 5000, 5500)).toBe('fresh');
  });

  it('forgets a nonce only once its proof can no longer verify', () => {
    const c = new ReplayCache(10, 1000);
    expect(c.check('u', 'u:1', 5000, 5000)).toBe('fresh');
    expect(c.check('u', 'u:1', 5000, 6000)).toBe('replayed'); // proof still verifies at ts + window
    expect(c.check('u', 'u:1', 5000, 6001)).toBe('fresh'); // only reachable by a stale proof, which verify refuses
    expect(c.size).toBe(1);
  });

  it('keeps a future-dated proof until its own timestamp plus the window', () => {
    const c = new ReplayCache(10, 1000);
    expect(c.check('u', 'u:f', 5900, 5000)).toBe('fresh');
    expect(c.check('u', 'u:f', 5900, 6800)).toBe('replayed');
    expect(c.has('u:f', 6900)).toBe(true);
    expect(c.has('u:f', 8000)).toBe(false);
  });

  it('a future-dated entry does not hold back the expiry of later ones (per-identity counts fall back)', () => {
    const c = new ReplayCache(10, 1000, 2);
    expect(c.check('far', 'far:1', 1900, 1000)).toBe('fresh'); // verifies until 2900
    expect(c.check('u', 'u:1', 1000, 1000)).toBe('fresh');
    expect(c.check('u', 'u:2', 1000, 1000)).toBe('fresh');
    expect(c.check('u', 'u:3', 1000, 1000)).toBe('limited');
    // at 2001 u's proofs are stale and forgotten, though the earlier future-dated entry still lives
    expect(c.check('u', 'u:4', 2001, 2001)).toBe('fresh');
    expect(c.heldBy('u')).toBe(1);
    expect(c.has('far:1', 2001)).toBe(true);
  });

  it('bounds the proofs of one identity; a replay is refused before it is counted; others are unaffected', () => {
    const c = new ReplayCache(100, 1000, 3);
    for (let i = 0; i < 3; i++) expect(c.check('hammer', `hammer:${i}`, 0, 0)).toBe('fresh');
    expect(c.check('hammer', 'hammer:3', 0, 1)).toBe('limited');
    expect(c.check('hammer', 'hammer:0', 0, 1)).toBe('replayed');
    expect(c.check('other', 'other:0', 0, 1)).toBe('fresh');
    // a replay of someone else's proof never counts against them
    for (let i = 0; i < 10; i++) expect(c.check('other', 'other:0', 0, 2)).toBe('replayed');
    expect(c.heldBy('other')).toBe(1);
    // the identity gets its logins back as its proofs age out
    expect(c.check('hammer', 'hammer:4', 1001, 1001)).toBe('fresh');
  });

  it('when full says "unremembered" (the store behind decides), still refusing what it holds', () => {
    const c = new ReplayCache(2, 1000);
    expect(c.check('a', 'a', 0, 0)).toBe('fresh');
    expect(c.check('b', 'b', 0, 0)).toBe('fresh');
    expect(c.check('c', 'c', 0, 10)).toBe('unremembered');
    expect(c.check('a', 'a', 0, 10)).toBe('replayed');
    expect(c.check('c', 'c', 1001, 1001)).toBe('fresh');
    expect(c.size).toBe(1);
  });
});
