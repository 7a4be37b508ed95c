import { describe, expect, it } from 'vitest';
import { NonceFilter } from './nonce-filter.ts';

describe('NonceFilter', () => {
  it('never forgets a nonce while its proof can verify (2 windows), then lets it go', () => {
    const f = new NonceFilter(1000, 16, 4);
    expect(f.mayContain('a', 0)).toBe(false);
    f.add('x', 0); // the first generation begins at 0
    f.add('a', 999); // its last moment: 'a' must be kept until 999 + 2 windows
    for (const t of [999, 1500, 2000, 2999]) expect(f.mayContain('a', t)).toBe(true);
    expect(f.mayContain('a', 3000)).toBe(false); // the generation is dropped 3 windows after it began
    expect(f.generationCount).toBe(0);
  });

  it('has no false negatives over many nonces and generations, and a small false-positive rate', () => {
    const f = new NonceFilter(1000, 20, 4); // 2^20 bits
    const added: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const key = `user${i % 977}:${i.toString(16)}`;
      const now = Math.floor(i / 10); // 2 s of adds: two generations
      f.add(key, now);
      added.push(key);
    }
    expect(added.every((k) => f.mayContain(k, 2000))).toBe(true);
    let wrong = 0;
    for (let i = 0; i < 10_000; i++) if (f.mayContain(`fresh:${i}`, 2000)) wrong++;
    // expected (1 - e^(-4·10000/2^20))^4 ≈ 2e-6 per generation
    expect(wrong).toBeLessThan(5);
    expect(f.generationCount).toBe(2);
  });
});
