/**
 * Proof nonces outlive the process that saw them (LevelDB) and are shared by cluster nodes (Redis);
 * the in-memory store refuses proofs signed before it started.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { levelProofNonces, memoryProofNonces, redisProofNonces } from './proof-nonces.ts';
import { startRedis } from '../test/fixtures/redis-process.ts';

const WINDOW = 120_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-nonces-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('proof nonce stores', () => {
  it('memory: a nonce is fresh once; proofs signed before start are refused', async () => {
    const store = memoryProofNonces(100, WINDOW, 1_000_000);
    expect(await store.claim('a', 1_000_001, 1_000_002)).toBe('fresh');
    expect(await store.claim('a', 1_000_001, 1_000_003)).toBe('replayed');
    expect(await store.claim('b', 999_999, 1_000_003)).toBe('replayed');
  });

  it('level: a nonce used before a restart is still refused after it, and expires with its window', async () => {
    const path = join(await tempDir(), 'db');
    let db = new Level<string, string>(path);
    await db.open();
    expect(await levelProofNonces(db, 100, WINDOW).claim('k', 5_000, 5_000)).toBe('fresh');
    await db.close();
    db = new Level<string, string>(path);
    await db.open();
    cleanups.push(() => db.close());
    const reopened = levelProofNonces(db, 100, WINDOW);
    expect(await reopened.claim('k', 5_000, 6_000)).toBe('replayed');
    expect(await reopened.claim('other', 5_000, 6_000)).toBe('fresh');
    // Past the window the proof itself no longer verifies; its nonce may be forgotten.
    expect(await reopened.claim('k', 6_000 + WINDOW + 1, 6_000 + WINDOW + 2)).toBe('fresh');
  });

  it('redis: two nodes share the nonces (a proof used on one is refused on the other)', async () => {
    const redisServer = await startRedis(await tempDir());
    cleanups.push(() => redisServer.stop());
    const a = new Redis(redisServer.url);
    const b = new Redis(redisServer.url);
    cleanups.push(() => a.quit(), () => b.quit());
    const nodeA = redisProofNonces(a, WINDOW);
    const nodeB = redisProofNonces(b, WINDOW);
    expect(await nodeA.claim('n1', 1, 1)).toBe('fresh');
    expect(await nodeB.claim('n1', 1, 2)).toBe('replayed');
    expect(await nodeB.claim('n2', 1, 2)).toBe('fresh');
    expect(await a.pttl('ratchetd:proof-nonce:n1')).toBeGreaterThan(WINDOW - 5_000);
  });
});
