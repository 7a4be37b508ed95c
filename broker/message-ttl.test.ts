import { afterEach, describe, expect, it } from 'vitest';
import { Level } from 'level';
import { pino } from 'pino';
import { MessageTtl, checkpointGranularity } from './message-ttl.ts';
import { tempDir } from './test-support.ts';

const logger = pino({ level: 'silent' });
const TTL = 10_000; // granularity 100 ms
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function clock(start: number) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('MessageTtl', () => {
  it('spaces checkpoints at 1% of the TTL, within bounds', () => {
    expect(checkpointGranularity(10_000)).toBe(100);
    expect(checkpointGranularity(100)).toBe(10);
    expect(checkpointGranularity(30 * 24 * 3600 * 1000)).toBe(3_600_000);
  });

  it('expires a packet once the checkpoint after it is older than the TTL, never before', async () => {
    const c = clock(1_000_000);
    const ttl = await MessageTtl.open({ ttlMs: TTL, now: c.now, db: null, logger });
    const run = { id: 'run-1', counter: 0 };
    ttl.attach(run);
    cleanups.push(() => ttl.stop());
    run.counter = 5; // packets 1..5 created before t0
    await ttl.checkpoint();
    c.t += 5000;
    run.counter = 9;
    await ttl.checkpoint();
    c.t = 1_000_000 + TTL;
    expect(ttl.isExpired({ brokerId: 'run-1', brokerCounter: 3 })).toBe(false); // exactly TTL old: kept
    c.t += 1;
    expect(ttl.isExpired({ brokerId: 'run-1', brokerCounter: 3 })).toBe(true);
    expect(ttl.isExpired({ brokerId: 'run-1', brokerCounter: 5 })).toBe(true);
    expect(ttl.isExpired({ brokerId: 'run-1', brokerCounter: 6 })).toBe(false); // bounded by the later checkpoint
    expect(ttl.isExpired({ brokerId: 'run-1', brokerCounter: 10 })).toBe(false); // newer than any checkpoint
    expect(ttl.isExpired({ topic: 'x' } as { brokerId?: string })).toBe(false);
  });

  it('after a restart, bounds packets of the old run by its stored checkpoints', async () => {
    const tmp = await tempDir('ttl');
    cleanups.push(tmp.remove);
    const c = clock(2_000_000);
    const db1 = new Level<string, string>(tmp.dir);
    await db1.open();
    const before = await MessageTtl.open({ ttlMs: TTL, now: c.now, db: db1, logger });
    const old = { id: 'old-run', counter: 0 };
    before.attach(old);
    old.counter = 20;
    await before.checkpoint();
    c.t += 50;
    old.counter = 25; // 21..25 after the last periodic checkpoint
    await before.stop(); // records the final checkpoint
    await db1.close();

    const db2 = new Level<string, string>(tmp.dir);
    await db2.open();
    cleanups.push(() => db2.close());
    const after = await MessageTtl.open({ ttlMs: TTL, now: c.now, db: db2, logger });
    after.attach({ id: 'new-run', counter: 1 });
    cleanups.push(() => after.stop());
    c.t = 2_000_000 + TTL + 1;
    expect(after.isExpired({ brokerId: 'old-run', brokerCounter: 20 })).toBe(true);
    expect(after.isExpired({ brokerId: 'old-run', brokerCounter: 25 })).toBe(false); // checkpointed 50 ms later
    c.t += 50;
    expect(after.isExpired({ brokerId: 'old-run', brokerCounter: 25 })).toBe(true);
    // a run never checkpointed (before the TTL was enabled) is bounded by the first checkpoint ever seen
    expect(after.isExpired({ brokerId: 'ancient-run', brokerCounter: 1 })).toBe(true);
  });

  it('the current run never expires what it has not checkpointed yet', async () => {
    const c = clock(0);
    const ttl = await MessageTtl.open({ ttlMs: TTL, now: c.now, db: null, logger });
    ttl.attach({ id: 'live', counter: 7 });
    cleanups.push(() => ttl.stop());
    c.t = 10 * TTL;
    expect(ttl.isExpired({ brokerId: 'live', brokerCounter: 7 })).toBe(false);
  });
});
