/**
 * RawBackend on LevelDB (`level`): utf8 keys, binary values, atomic batches (synced when asked).
 * Superseded and deleted values are scrubbed out of the database's files on a schedule
 * (scrub-schedule.ts, level-scrub.ts): at open, every 30 s after writes, and at close.
 */
import { Level } from 'level';
import type { RawBackend, RawOp, RawRange } from './backend.ts';
import { scrubLevel, type ScrubbableLevel } from './level-scrub.ts';
import { ScrubSchedule, type ScrubScheduleOptions } from './scrub-schedule.ts';
import { StoreError } from './store.ts';

export interface LevelBackendOptions {
  /** When superseded values are scrubbed from the files (interval, report hook). */
  readonly scrub?: ScrubScheduleOptions;
}

/** The compaction calls classic-level (what `level` is on Node) has beyond the abstract-level API. */
function scrubbable(db: Level<string, Uint8Array>): ScrubbableLevel {
  const d = db as unknown as Partial<ScrubbableLevel>;
  if (typeof d.compactRange !== 'function' || typeof d.getProperty !== 'function') {
    throw new StoreError('this LevelDB binding cannot compact: superseded values could not be scrubbed');
  }
  return db as unknown as ScrubbableLevel;
}

export async function openLevelBackend(location: string, options: LevelBackendOptions = {}): Promise<RawBackend> {
  const db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (cause) {
    throw new StoreError(`cannot open the store at ${location} (is another daemon using this data dir?)`, { cause });
  }
  const level = scrubbable(db);
  // Open iterators, by the snapshot they hold: versions they can still see survive a compaction.
  const iterators = new Set<{ close(): Promise<void> }>();
  const schedule = new ScrubSchedule(async () => {
    const pinned = iterators.size > 0;
    await scrubLevel(level);
    return !pinned;
  }, options.scrub);
  schedule.start();
  options.scrub?.onSchedule?.(schedule);
  let closed = false;
  return {
    async get(key) {
      return (await db.get(key)) ?? undefined;
    },
    async batch(ops: readonly RawOp[], batchOptions = {}) {
      if (ops.length === 0) return;
      schedule.markDirty();
      await db.batch(
        ops.map((op) =>
          // A Buffer view (no copy) takes classic-level's cheaper Buffer path for the value.
          op.type === 'put'
            ? { type: 'put' as const, key: op.key, value: Buffer.from(op.value.buffer, op.value.byteOffset, op.value.byteLength) }
            : { type: 'del' as const, key: op.key },
        ),
        // `sync` is classic-level's write option (fsync before the callback), not in abstract-level's types.
        { sync: batchOptions.sync === true } as Record<string, unknown>,
      );
    },
    async *iterate(range: RawRange) {
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
        await db.close();
      }
    },
  };
}
