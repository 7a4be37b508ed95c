/**
 * RawBackend on LevelDB (`level`): utf8 keys, binary values, atomic batches (synced when asked).
 * Superseded and deleted values are scrubbed out of the database's files on a schedule
 * (scrub-schedule.ts, level-scrub.ts): at open, every 30 s after writes, and at close.
 *
 * Every compaction appends to LevelDB's info log (`LOG`, ~5 KB per scrub) and its `MANIFEST`
 * (~0.6 KB), which LevelDB rewrites only when it opens the database. So after a scrub that leaves
 * them above `reopenAboveBytes` together (and no iterator is open), the backend closes and reopens
 * the database: new operations wait, those in flight finish first; LevelDB then starts a fresh
 * MANIFEST and LOG (keeping one LOG.old), which bounds both.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import type { RawBackend, RawOp, RawRange } from './backend.ts';
import { scrubLevel, type ScrubbableLevel } from './level-scrub.ts';
import { ScrubSchedule, type ScrubScheduleOptions } from './scrub-schedule.ts';
import { StoreError } from './store.ts';

/** LOG + MANIFEST bytes above which a scrub reopens the database (default). */
export const DEFAULT_REOPEN_ABOVE_BYTES = 4 * 1024 * 1024;

export interface LevelBackendOptions {
  /** When superseded values are scrubbed from the files (interval, report hook). */
  readonly scrub?: ScrubScheduleOptions;
  /** LOG + MANIFEST bytes above which a scrub reopens the database to start them afresh. */
  readonly reopenAboveBytes?: number;
}

/** The compaction calls classic-level (what `level` is on Node) has beyond the abstract-level API. */
function scrubbable(db: Level<string, Uint8Array>): ScrubbableLevel {
  const d = db as unknown as Partial<ScrubbableLevel>;
  if (typeof d.compactRange !== 'function' || typeof d.getProperty !== 'function') {
    throw new StoreError('this LevelDB binding cannot compact: superseded values could not be scrubbed');
  }
  return db as unknown as ScrubbableLevel;
}

/** Sizes of the files LevelDB only ever appends to while open. */
async function metadataBytes(location: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(location)) {
    if (name !== 'LOG' && !name.startsWith('MANIFEST-')) continue;
    try {
      total += (await stat(join(location, name))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return total;
}

export async function openLevelBackend(location: string, options: LevelBackendOptions = {}): Promise<RawBackend> {
  const db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (cause) {
    throw new StoreError(`cannot open the store at ${location} (is another daemon using this data dir?)`, { cause });
  }
  const level = scrubbable(db);
  const reopenAbove = options.reopenAboveBytes ?? DEFAULT_REOPEN_ABOVE_BYTES;

  // Open iterators, by the snapshot they hold: versions they can still see survive a compaction.
  const iterators = new Set<{ close(): Promise<void> }>();
  // While the database is reopened, new operations wait on the gate; gets and batches in flight
  // are counted so the reopen can wait for them (iterators are not: a reopen needs none open).
  let gate: Promise<void> | null = null;
  let inFlight = 0;
  let drained: (() => void) | null = null;
  const passGate = async (): Promise<void> => {
    while (gate !== null) await gate;
  };
  const guarded = async <T>(op: () => Promise<T>): Promise<T> => {
    await passGate();
    inFlight += 1;
    try {
      return await op();
    } finally {
      inFlight -= 1;
      if (inFlight === 0 && drained !== null) {
        drained();
        drained = null;
      }
    }
  };
  const reopen = async (): Promise<void> => {
    let release = (): void => undefined;
    gate = new Promise<void>((resolve) => (release = resolve));
    try {
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await db.close();
      await db.open();
    } finally {
      gate = null;
      release();
    }
  };

  const schedule = new ScrubSchedule(async () => {
    const pinned = iterators.size > 0;
    await scrubLevel(level);
    // (no await between the iterator check and reopen() setting the gate)
    if (!pinned && (await metadataBytes(location)) > reopenAbove && iterators.size === 0) await reopen();
    return !pinned;
  }, options.scrub);
  schedule.start();
  options.scrub?.onSchedule?.(schedule);
  let closed = false;
  return {
    get(key) {
      return guarded(async () => (await db.get(key)) ?? undefined);
    },
    async batch(ops: readonly RawOp[], batchOptions = {}) {
      if (ops.length === 0) return;
      schedule.markDirty();
      await guarded(() =>
        db.batch(
          ops.map((op) =>
            // A Buffer view (no copy) takes classic-level's cheaper Buffer path for the value.
            op.type === 'put'
              ? { type: 'put' as const, key: op.key, value: Buffer.from(op.value.buffer, op.value.byteOffset, op.value.byteLength) }
              : { type: 'del' as const, key: op.key },
          ),
          // `sync` is classic-level's write option (fsync before the callback), not in abstract-level's types.
          { sync: batchOptions.sync === true } as Record<string, unknown>,
        ),
      );
    },
    async *iterate(range: RawRange) {
      await passGate();
      // (no await between the gate and the add: a reopen sees this iterator)
      const it = db.iterator({
        ...(range.gte !== undefined ? { gte: range.gte } : { gt: range.gt ?? '' }),
        lt: range.lt,
        reverse: range.reverse ?? false,
        ...(range.limit !== undefined ? { limit: range.limit } : {}),
      });
      iterators.add(it);
      try {
        for await (const [k, v] of it) yield [k, v] as const;
      } finally {
        iterators.delete(it);
        await it.close();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      // Iterators left open would pin old versions through the last scrub (and db.close ends them anyway).
      await Promise.all([...iterators].map((it) => it.close()));
      iterators.clear();
      try {
        await schedule.stop();
      } finally {
        await passGate();
        await db.close();
      }
    },
  };
}
