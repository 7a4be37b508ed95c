/**
 * Proof nonces outlive the process that saw them (LevelDB) and are shared by cluster nodes (Redis);
 * the in-memory store refuses proofs signed before it started. Every variant bounds the logins of
 * one identity without touching anyone else's, and a full in-memory cache refuses nobody.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { levelProofNonces, memoryProofNonces, redisProofNonces, type ProofNonceStore } from './proof-nonces.ts';
import { startRedis } from '../test/fixtures/redis-process.ts';

const WINDOW = 120_000;
const BOUNDS = { maxEntries: 100, maxPerIdentity: 1000, windowMs: WINDOW };
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-nonces-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openLevel(path: string): Promise<Level<string, string>> {
  const db = new Level<string, string>(path);
  await db.open();
  return db;
}

async function redisPair(): Promise<[Redis, Redis]> {
  const redisServer = await startRedis(await tempDir());
  cleanups.push(() => redisServer.stop());
  const a = new Redis(redisServer.url);
  const b = new Redis(redisServer.url);
  cleanups.push(() => a.quit(), () => b.quit());
  return [a, b];
}

/** Identity `hammer` logs in `limit` + 5 times, then `other` once; a replay of other's proof follows. */
async function hammer(store: ProofNonceStore, limit: number, now: number): Promise<string[]> {
  const verdicts: string[] = [];
  for (let i = 0; i < limit + 5; i++) verdicts.push(await store.claim('hammer', `hammer:${i}`, now, now));
  verdicts.push(await store.claim('other', 'other:0', now, now));
  for (let i = 0; i < limit + 5; i++) verdicts.push(await store.claim('other', 'other:0', now, now));
  verdicts.push(await store.claim('other', 'other:1', now, now));
  return verdicts;
}

const expectedHammer = (limit: number): string[] => [
  ...Array<string>(limit).fill('fresh'),
  ...Array<string>(5).fill('limited'),
  'fresh',
  ...Array<string>(limit + 5).fill('replayed'),
  'fresh', // replays of other's proof never counted against other
];

describe('proof nonce stores', () => {
  it('memory: a nonce is fresh once; proofs signed before start are refused', async () => {
    const store = memoryProofNonces(BOUNDS, 1_000_000);
    expect(await store.claim('u', 'a', 1_000_001, 1_000_002)).toBe('fresh');
    expect(await store.claim('u', 'a', 1_000_001, 1_000_003)).toBe('replayed');
    expect(await store.claim('u', 'b', 999_999, 1_000_003)).toBe('replayed');
  });

  it('level: a nonce used before a restart is still refused after it, and expires with its window', async () => {
    const path = join(await tempDir(), 'db');
    let db = await openLevel(path);
    expect(await levelProofNonces(db, BOUNDS).claim('u', 'k', 5_000, 5_000)).toBe('fresh');
    await db.close();
    db = await openLevel(path);
    cleanups.push(() => db.close());
    const reopened = levelProofNonces(db, BOUNDS);
    expect(await reopened.claim('u', 'k', 5_000, 6_000)).toBe('replayed');
    expect(await reopened.claim('u', 'other', 5_000, 6_000)).toBe('fresh');
    // Past the window the proof itself no longer verifies; its nonce may be forgotten.
    expect(await reopened.claim('u', 'k', 6_000 + WINDOW + 1, 6_000 + WINDOW + 2)).toBe('fresh');
  });

  it('redis: two nodes share the nonces (a proof used on one is refused on the other)', async () => {
    const [a, b] = await redisPair();
    const nodeA = redisProofNonces(a, BOUNDS);
    const nodeB = redisProofNonces(b, BOUNDS);
    expect(await nodeA.claim('u', 'n1', 1, 1)).toBe('fresh');
    expect(await nodeB.claim('u', 'n1', 1, 2)).toBe('replayed');
    expect(await nodeB.claim('u', 'n2', 1, 2)).toBe('fresh');
    expect(await a.pttl('ratchetd:proof-nonce:n1')).toBeGreaterThan(WINDOW - 5_000);
  });
});

describe('one identity logging in too often is refused itself, nobody else', () => {
  const limit = 8;
  const bounds = { maxEntries: 10_000, maxPerIdentity: limit, windowMs: WINDOW };

  it('memory', async () => {
    expect(await hammer(memoryProofNonces(bounds, 0), limit, 1_000)).toEqual(expectedHammer(limit));
  });

  it('level, and the bound lifts as the proofs age out', async () => {
    const db = await openLevel(join(await tempDir(), 'db'));
    cleanups.push(() => db.close());
    const store = levelProofNonces(db, bounds);
    expect(await hammer(store, limit, 1_000)).toEqual(expectedHammer(limit));
    expect(await store.claim('hammer', 'hammer:late', 1_000 + WINDOW + 1, 1_000 + WINDOW + 1)).toBe('fresh');
  });

  it('redis, across the nodes of a cluster', async () => {
    const [a, b] = await redisPair();
    const nodeA = redisProofNonces(a, bounds);
    const nodeB = redisProofNonces(b, bounds);
    for (let i = 0; i < limit; i++) expect(await (i % 2 === 0 ? nodeA : nodeB).claim('hammer', `hammer:${i}`, 1_000, 1_000)).toBe('fresh');
    expect(await nodeA.claim('hammer', 'hammer:x', 1_000, 1_001)).toBe('limited');
    expect(await nodeB.claim('hammer', 'hammer:y', 1_000, 1_001)).toBe('limited');
    expect(await nodeB.claim('other', 'other:0', 1_000, 1_001)).toBe('fresh');
    for (let i = 0; i < limit + 2; i++) expect(await nodeA.claim('other', 'other:0', 1_000, 1_002)).toBe('replayed');
    expect(await nodeA.claim('other', 'other:1', 1_000, 1_002)).toBe('fresh');
    // the identity's count ages out with its proofs
    expect(await nodeA.claim('hammer', 'hammer:late', 1_000 + WINDOW + 1, 1_000 + WINDOW + 1)).toBe('fresh');
  });
});

describe('a full in-memory cache refuses nobody, and still every replay', () => {
  const bounds = { maxEntries: 50, maxPerIdentity: 4, windowMs: WINDOW };

  it('memory: past the exact entries, nonces go to the filter', async () => {
    const store = memoryProofNonces(bounds, 0);
    const keys: string[] = [];
    for (let i = 0; i < 500; i++) {
      const key = `id${i}:n`;
      keys.push(key);
      expect(await store.claim(`id${i}`, key, 1_000, 1_000 + i)).toBe('fresh');
    }
    expect(store.size).toBe(50);
    for (const key of keys) expect(await store.claim(key.split(':')[0]!, key, 1_000, 2_000)).toBe('replayed');
  });

  it('level: past the exact entries, the database decides, also after a restart', async () => {
    const path = join(await tempDir(), 'db');
    let db = await openLevel(path);
    let store = levelProofNonces(db, bounds);
    for (let i = 0; i < 200; i++) expect(await store.claim(`id${i}`, `id${i}:n`, 1_000, 1_000)).toBe('fresh');
    for (let i = 0; i < 200; i++) expect(await store.claim(`id${i}`, `id${i}:n`, 1_000, 1_001)).toBe('replayed');
    await db.close();
    db = await openLevel(path);
    cleanups.push(() => db.close());
    store = levelProofNonces(db, bounds);
    for (let i = 0; i < 200; i++) expect(await store.claim(`id${i}`, `id${i}:n`, 1_000, 1_002)).toBe('replayed');
  });

  it('level: expired entries are pruned from the database (both records)', async () => {
    const db = await openLevel(join(await tempDir(), 'db'));
    cleanups.push(() => db.close());
    const store = levelProofNonces(db, { ...bounds, maxPerIdentity: 10_000 });
    for (let i = 0; i < 1023; i++) await store.claim('u', `u:${i}`, 1_000, 1_000);
    const count = async (name: string): Promise<number> => {
      let n = 0;
      for await (const _ of db.sublevel(name).keys()) n++;
      return n;
    };
    expect(await count('ratchetd-proof-nonces')).toBe(1023);
    expect(await count('ratchetd-proof-nonce-expiry')).toBe(1023);
    await store.claim('u', 'u:last', 1_000 + WINDOW + 1, 1_000 + WINDOW + 1); // the 1024th write prunes
    expect(await count('ratchetd-proof-nonces')).toBe(1);
    expect(await count('ratchetd-proof-nonce-expiry')).toBe(1);
  });
});
