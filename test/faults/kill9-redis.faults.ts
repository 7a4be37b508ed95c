/**
 * Issue 6, item 1 (broker on Redis): the same kill -9 run as kill9-leveldb.faults.ts with the broker
 * keeping its queues and retained bundles in its own redis-server (AOF on). The broker and both
 * daemons are killed; Redis stays up (it is the broker's storage, like a database).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultSeed } from './prng.ts';
import { startRedis, type OwnRedis } from './redis.ts';
import { checkKill9Result, runKill9Faults, summaryLine } from './kill9-run.ts';

const MESSAGES_PER_SIDE = 1_000;
const MIN_KILLS = 24;
const AFTERWARDS = 5;

let redis: OwnRedis | undefined;
let redisDir = '';
beforeAll(async () => {
  redisDir = await mkdtemp(join(tmpdir(), 'ratchetd-faults-redis-'));
  redis = await startRedis(redisDir);
});
afterAll(async () => {
  await redis?.stop();
  await rm(redisDir, { recursive: true, force: true });
});

describe('kill -9 during two-way traffic, broker on Redis', () => {
  it('loses, duplicates and reorders nothing', async () => {
    const seed = faultSeed();
    console.log(`faults (redis): seed ${seed} (FAULTS_SEED=${seed} replays the kill schedule)`);
    if (redis === undefined) throw new Error('redis-server did not start');
    const r = await runKill9Faults({
      seed,
      messagesPerSide: MESSAGES_PER_SIDE,
      minKills: MIN_KILLS,
      label: 'redis',
      settleMs: 150_000,
      afterwards: AFTERWARDS,
      brokerArgs: ['--redis', redis.url],
    });
    console.log(summaryLine('redis', r));
    checkKill9Result(expect, r, { messagesPerSide: MESSAGES_PER_SIDE, afterwards: AFTERWARDS, minKills: MIN_KILLS });
  }, 330_000);
});
