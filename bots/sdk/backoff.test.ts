import { describe, expect, it } from 'vitest';
import { createBackoff, sleep } from './backoff.ts';

const DEFAULTS = { initialDelayMs: 100, maxDelayMs: 1_000 };

describe('createBackoff', () => {
  it('doubles from the initial delay up to the maximum, half fixed and half jitter', () => {
    const low = createBackoff({}, DEFAULTS, () => 0);
    const high = createBackoff({}, DEFAULTS, () => 0.999999);
    expect([0, 1, 2, 3, 4, 5].map((a) => low.delay(a))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4, 5].map((a) => high.delay(a))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('stays capped for huge attempt numbers', () => {
    expect(createBackoff({ initialDelayMs: 10, maxDelayMs: 60 }, DEFAULTS, () => 0.5).delay(10_000)).toBe(45);
  });

  it('spreads delays with the random source', () => {
    const values = [0.1, 0.9];
    const backoff = createBackoff({}, DEFAULTS, () => values.shift() ?? 0);
    expect(backoff.delay(2)).not.toBe(backoff.delay(2));
  });

  it('refuses non-positive delays', () => {
    expect(() => createBackoff({ initialDelayMs: 0 }, DEFAULTS)).toThrow(RangeError);
  });
});

describe('sleep', () => {
  it('ends early when the signal aborts', async () => {
    const controller = new AbortController();
    const slept = sleep(3_600_000, controller.signal);
    controller.abort();
    await expect(slept).resolves.toBeUndefined();
  });
});
