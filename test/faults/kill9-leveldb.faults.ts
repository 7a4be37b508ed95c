/**
 * Issue 6, item 1 (LevelDB broker): ≥ 2,000 messages both ways while the daemons and the broker
 * are killed with SIGKILL ≥ 20 times at random moments and restarted on the same data dirs; every
 * message reaches the other bot exactly once, in the sender's order, and both keep talking.
 * Run with `npm run test:faults` (FAULTS_SEED=<n> replays a schedule).
 */
import { describe, expect, it } from 'vitest';
import { faultSeed } from './prng.ts';
import { checkKill9Result, runKill9Faults, summaryLine } from './kill9-run.ts';

const MESSAGES_PER_SIDE = 1_000;
const MIN_KILLS = 24;
const AFTERWARDS = 5;

describe('kill -9 during two-way traffic, LevelDB broker', () => {
  it('loses, duplicates and reorders nothing', async () => {
    const seed = faultSeed();
    console.log(`faults (leveldb): seed ${seed} (FAULTS_SEED=${seed} replays the kill schedule)`);
    const r = await runKill9Faults({ seed, messagesPerSide: MESSAGES_PER_SIDE, minKills: MIN_KILLS, label: 'leveldb', settleMs: 150_000, afterwards: AFTERWARDS });
    console.log(summaryLine('leveldb', r));
    checkKill9Result(expect, r, { messagesPerSide: MESSAGES_PER_SIDE, afterwards: AFTERWARDS, minKills: MIN_KILLS });
  }, 330_000);
});
