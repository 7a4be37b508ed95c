import { describe, expect, it } from 'vitest';
import { ReplayCache } from './replay-cache.ts';

describe('ReplayCache', () => {
  it('accepts a nonce once and refuses it again within the window', () => {
    const c = new ReplayCache(10, 1000);
    expect(c.check('u:1', 5000, 5000)).toBe('fresh');
    expect(c.check('u:1', 5000, 5500)).toBe('replayed');
    expect(c.check('u:2', 5000, 5500)).toBe('fresh');
  });

  it('forgets a nonce only once its proof can no longer verify', () => {
    const c = new ReplayCache(10, 1000);
    expect(c.check('u:1', 5000, 5000)).toBe('fresh');
    expect(c.check('u:1', 5000, 6000)).toBe('replayed'); // proof still verifies at ts + window
    expect(c.check('u:1', 5000, 6001)).toBe('fresh'); // only reachable by a stale proof, which verify refuses
    expect(c.size).toBe(1);
  });

  it('keeps a future-dated proof until its own timestamp plus the window', () => {
    const c = new ReplayCache(10, 1000);
    expect(c.check('u:f', 5900, 5000)).toBe('fresh');
    expect(c.check('u:f', 5900, 6800)).toBe('replayed');
  });

  it('fails closed when full of live entries, and recovers as they expire', () => {
    const c = new ReplayCache(2, 1000);
    expect(c.check('a', 0, 0)).toBe('fresh');
    expect(c.check('b', 0, 0)).toBe('fresh');
    expect(c.check('c', 0, 10)).toBe('full');
    expect(c.check('a', 0, 10)).toBe('replayed');
    expect(c.check('c', 1001, 1001)).toBe('fresh');
    expect(c.size).toBe(1);
  });
});
