import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('KeyedLock', () => {
  it('serialises holders of one key in arrival order and lets other keys run in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const job = (key: string, name: string, ticks: number) =>
      lock.run(key, async () => {
        log.push(`${name}>`);
        for (let i = 0; i < ticks; i++) await tick();
        log.push(`<${name}`);
        return name;
      });
    const results = await Promise.all([job('a', 'a1', 3), job('a', 'a2', 1), job('b', 'b1', 1), job('a', 'a3', 0)]);
    expect(results).toEqual(['a1', 'a2', 'b1', 'a3']);
    const a = log.filter((x) => x.includes('a'));
    expect(a).toEqual(['a1>', '<a1', 'a2>', '<a2', 'a3>', '<a3']);
    // b ran while a1 held its lock
    expect(log.indexOf('b1>')).toBeLessThan(log.indexOf('<a1'));
    expect(lock.size).toBe(0);
  });

  it('releases the key when the holder throws', async () => {
    const lock = new KeyedLock();
    await expect(lock.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run('k', async () => 7)).toBe(7);
    expect(lock.size).toBe(0);
  });
});
