/**
 * Scrubbing (level-scrub.ts, scrub-schedule.ts) on a real LevelDB: after a scrub no overwritten or
 * deleted value is left in any file of the database, whatever shape the database had (only a
 * memtable, tables at several levels, a crash-recovered log); an open iterator makes a scrub
 * incomplete and the next one finishes the job; close scrubs last.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RawBackend } from './backend.ts';
import { openLevelBackend } from './level-backend.ts';
import { filesHolding, readAllFiles } from './raw-file-search.ts';
import type { ScrubReport, ScrubSchedule } from './scrub-schedule.ts';

const dirs: string[] = [];
const open: RawBackend[] = [];
afterEach(async () => {
  for (const b of open.splice(0)) await b.close().catch(() => undefined);
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

interface Scrubbed {
  backend: RawBackend;
  dir: string;
  schedule: ScrubSchedule;
  reports: ScrubReport[];
  /** The next report to arrive. */
  nextReport(): Promise<ScrubReport>;
}

async function openScrubbed(intervalMs: number, dir?: string, reopenAboveBytes?: number): Promise<Scrubbed> {
  const location = dir ?? (await mkdtemp(join(tmpdir(), 'ratchetd-scrub-')));
  if (dir === undefined) dirs.push(location);
  const reports: ScrubReport[] = [];
  const waiting: Array<(r: ScrubReport) => void> = [];
  const onScrub = (r: ScrubReport): void => {
    reports.push(r);
    for (const w of waiting.splice(0)) w(r);
  };
  let schedule: ScrubSchedule | undefined;
  const backend = await openLevelBackend(location, {
    scrub: { intervalMs, onScrub, onSchedule: (s) => (schedule = s) },
    ...(reopenAboveBytes !== undefined ? { reopenAboveBytes } : {}),
  });
  open.push(backend);
  const nextReport = (): Promise<ScrubReport> => new Promise((resolve) => waiting.push(resolve));
  return { backend, dir: location, schedule: schedule!, reports, nextReport };
}

/** Writes `n` random values over `keys` keys (a tenth are deletes); returns what it superseded and what is live. */
async function churn(b: RawBackend, n: number, keys: number, size: number, live: Map<string, Uint8Array>): Promise<Uint8Array[]> {
  const superseded: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const key = `peer!${i % keys}`;
    const prev = live.get(key);
    if (prev !== undefined) superseded.push(prev);
    if (i % 10 === 9) {
      live.delete(key);
      await b.batch([{ type: 'del', key }], { sync: i % 2 === 0 });
    } else {
      const value = new Uint8Array(randomBytes(size));
      live.set(key, value);
      await b.batch([{ type: 'put', key, value }]);
    }
  }
  return superseded;
}

/** Of a spread sample of at most 400 of `values`: how many were looked for, and how many some file holds. */
async function search(dir: string, values: readonly Uint8Array[]): Promise<{ sampled: number; held: number }> {
  const files = await readAllFiles(dir);
  const step = Math.max(1, Math.ceil(values.length / 400));
  const sample = values.filter((_, i) => i % step === 0);
  return { sampled: sample.length, held: sample.filter((v) => filesHolding(files, v).length > 0).length };
}
const holdersOf = async (dir: string, values: readonly Uint8Array[]): Promise<number> => (await search(dir, values)).held;

describe('LevelDB scrub', () => {
  it('leaves no superseded or deleted value in any file, whatever the shape of the database', async () => {
    const { backend, dir, schedule } = await openScrubbed(20);
    await schedule.settled(); // the scrub at open
    const live = new Map<string, Uint8Array>();
    // only a memtable; then small tables; then several MiB over several levels; then a little more
    for (const [n, keys, size] of [
      [300, 30, 300],
      [60, 30, 300],
      [4000, 300, 2000],
      [20, 300, 2000],
    ] as const) {
      // (scrubs run during the churn too; the next test shows the search finds values before a scrub)
      const superseded = await churn(backend, n, keys, size, live);
      const report = await schedule.settled();
      expect(report.complete).toBe(true);
      expect(await holdersOf(dir, superseded)).toBe(0);
      const current = await search(dir, [...live.values()]);
      expect(current.held).toBe(current.sampled); // the live values are all there
    }
  });

  it('close scrubs: none after a clean shutdown (and the open scrub cleans what a crash left)', async () => {
    const first = await openScrubbed(3_600_000);
    await first.schedule.settled();
    const live = new Map<string, Uint8Array>();
    const superseded = await churn(first.backend, 500, 40, 500, live);
    expect(await holdersOf(first.dir, superseded)).toBeGreaterThan(0);
    await first.backend.close();
    expect(first.reports.map((r) => r.reason)).toEqual(['open', 'close']);
    expect(await holdersOf(first.dir, superseded)).toBe(0);
    const again = await openScrubbed(3_600_000, first.dir);
    const reopened = new Map<string, string>();
    for await (const [k, v] of again.backend.iterate({ gt: '', lt: '\uffff' })) reopened.set(k, Buffer.from(v).toString('hex'));
    expect(reopened).toEqual(new Map([...live].map(([k, v]) => [k, Buffer.from(v).toString('hex')])));
  });

  it('an iterator open during a scrub makes it incomplete; the next one, after it closed, finishes', async () => {
    const { backend, dir, schedule, nextReport } = await openScrubbed(20);
    await schedule.settled();
    const live = new Map<string, Uint8Array>();
    await churn(backend, 50, 10, 300, live);
    await schedule.settled();
    const it = backend.iterate({ gt: '', lt: '\uffff' })[Symbol.asyncIterator]();
    await it.next(); // the iterator (and its snapshot) is open
    const superseded = await churn(backend, 50, 10, 300, live);
    const settled = schedule.settled();
    // the next scrub starts after these writes, with the iterator still open
    expect((await nextReport()).complete).toBe(false);
    expect(await holdersOf(dir, superseded)).toBeGreaterThan(0); // pinned by the snapshot
    await it.return?.();
    const report = await settled;
    expect(report.complete).toBe(true);
    expect(await holdersOf(dir, superseded)).toBe(0);
  });

  it('LOG and MANIFEST stay bounded: past the threshold a scrub reopens the database, and operations carry on', async () => {
    const limit = 30_000;
    const { backend, dir, schedule } = await openScrubbed(5, undefined, limit);
    const live = new Map<string, Uint8Array>();
    const metadata = async (): Promise<number> => {
      let n = 0;
      for (const f of await readdir(dir)) if (f === 'LOG' || f.startsWith('MANIFEST-')) n += (await stat(join(dir, f))).size;
      return n;
    };
    let most = 0;
    for (let round = 0; round < 40; round++) {
      // gets and batches race the scrubs (and the reopens among them)
      const reads = [...live.keys()].slice(0, 5).map((k) => backend.get(k));
      await churn(backend, 20, 20, 200, live);
      for (const r of await Promise.all(reads)) expect(r).toBeDefined();
      await schedule.settled();
      most = Math.max(most, await metadata());
    }
    // without reopening they would grow by ~5 KB per scrub: 40 scrubs ≈ 200 KB
    expect(most).toBeLessThan(limit + 20_000);
    const stored = new Map<string, string>();
    for await (const [k, v] of backend.iterate({ gt: '', lt: '\uffff' })) stored.set(k, Buffer.from(v).toString('hex'));
    expect(stored).toEqual(new Map([...live].map(([k, v]) => [k, Buffer.from(v).toString('hex')])));
  });
});
