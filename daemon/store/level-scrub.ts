/**
 * Scrubbing a LevelDB: one pass after which no value that was overwritten or deleted before the pass
 * began is left in any file of the database (forward secrecy at rest: a superseded ratchet state or
 * an acked inbox body must not be readable from a later copy of the data dir).
 *
 * LevelDB keeps a superseded value — in the write-ahead `.log` and in `.ldb` tables — until a
 * compaction reads it together with its newer version (or tombstone) and drops it; a database nobody
 * compacts keeps it for ever. One pass is:
 *   1. a synced batch of two tombstones, one below and one above every key of the store: the memtable
 *      is then never empty and its table spans the whole key space, so it overlaps every table;
 *   2. `compactRange` over that span: LevelDB flushes the memtable to a table (starting a new,
 *      empty `.log` and deleting the old one) and compacts each level into the next, down to the
 *      deepest level holding data, which rewrites every table and drops every shadowed version.
 * When the database held no table at all before the pass, the flushed table may be placed straight
 * at a deeper level that the same call does not compact again (its shadowed versions would survive
 * inside it), so a second pass follows; from then on one pass merges everything into the deepest level.
 *
 * Versions pinned by an open iterator (its snapshot) survive a pass: the caller repeats the pass
 * once no iterator is open (level-backend.ts).
 */

/** The LevelDB operations a scrub needs (classic-level's, which `level` is on Node). */
export interface ScrubbableLevel {
  batch(ops: Array<{ type: 'del'; key: string }>, options: { sync: boolean }): Promise<void>;
  compactRange(start: string, end: string): Promise<void>;
  getProperty(property: string): string;
}

/** Below every key of the store (its keys start with a kind's prefix, lowercase ASCII). */
export const SCRUB_LOW_KEY = '\u0001';
/** Above every key of the store (all ASCII; the backend never iterates up to U+FFFF). */
export const SCRUB_HIGH_KEY = '\uffff';

/** LevelDB's number of levels (config::kNumLevels). */
const LEVELS = 7;

export function tableFileCount(db: ScrubbableLevel): number {
  let n = 0;
  for (let level = 0; level < LEVELS; level++) n += Number(db.getProperty(`leveldb.num-files-at-level${level}`)) || 0;
  return n;
}

async function pass(db: ScrubbableLevel): Promise<void> {
  await db.batch(
    [
      { type: 'del', key: SCRUB_LOW_KEY },
      { type: 'del', key: SCRUB_HIGH_KEY },
    ],
    { sync: true },
  );
  await db.compactRange(SCRUB_LOW_KEY, SCRUB_HIGH_KEY);
}

/** Runs one scrub (one or two passes); resolves when LevelDB has deleted the files it replaced. */
export async function scrubLevel(db: ScrubbableLevel): Promise<void> {
  const hadTables = tableFileCount(db) > 0;
  await pass(db);
  if (!hadTables) await pass(db);
}
