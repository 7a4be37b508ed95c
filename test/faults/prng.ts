/**
 * A small seeded PRNG (mulberry32) for the fault schedules: the same seed gives the same kills at
 * the same points of the traffic, so a failure can be replayed with FAULTS_SEED=<seed>.
 */
export interface Prng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
}

export function createPrng(seed: number): Prng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed: seed >>> 0,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError('pick from an empty list');
      return item;
    },
  };
}

/** The seed from FAULTS_SEED, or a fresh one (printed by the caller so a failure can be replayed). */
export function faultSeed(): number {
  const fromEnv = process.env['FAULTS_SEED'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`FAULTS_SEED must be an integer 0..2^32-1, got ${fromEnv}`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}
