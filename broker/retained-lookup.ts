/**
 * O(1) retained lookups for exact topics on the LevelDB persistence.
 *
 * Every bundle fetch is a subscription to one exact topic (…/bundle/{userId}). aedes-persistence-level
 * 9.x answers any retained lookup by scanning and msgpack-decoding EVERY retained message and
 * testing each against the pattern: a fetch costs O(users on the relay) — with 10,000 users about
 * 36 MB read and decoded per fetch, on the broker's event loop. (The Redis persistence already does
 * a direct GET for exact topics; the in-memory one scans a Map.)
 *
 * The wrapper answers wildcard-free patterns with one get of the record the persistence itself
 * wrote (its key `retained:` + topic, its msgpack encoding — read with the msgpack-lite that
 * aedes-persistence-level itself loads); wildcard patterns go to the original scan (the ACL refuses
 * them from clients anyway). broker/retained-lookup.test.ts stores through the real persistence and
 * reads through this path, so an upgrade that changes that layout fails the test.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { Level } from 'level';

const RETAINED_KEY_PREFIX = 'retained:';

interface Msgpack {
  decode(b: Buffer): unknown;
}

/** msgpack-lite as aedes-persistence-level resolves it (not a dependency of ours). */
function persistenceMsgpack(): Msgpack {
  const requireFromHere = createRequire(import.meta.url);
  const persistenceEntry = requireFromHere.resolve('aedes-persistence-level');
  return createRequire(persistenceEntry)('msgpack-lite') as Msgpack;
}

export interface RetainedPersistence {
  createRetainedStreamCombi(patterns: string[]): Readable;
  createRetainedStream(pattern: string): Readable;
}

function hasWildcard(pattern: string): boolean {
  return pattern.includes('+') || pattern.includes('#');
}

/** Wraps the LevelDB persistence in place. Call once, before clients connect. */
export function exactRetainedLookups(persistence: RetainedPersistence, db: Level<string, string>): void {
  const msgpack = persistenceMsgpack();
  const scan = persistence.createRetainedStreamCombi.bind(persistence);

  async function* lookup(patterns: string[]): AsyncGenerator<unknown> {
    const wildcards = patterns.filter(hasWildcard);
    const seen = new Set<string>();
    for (const topic of patterns) {
      if (hasWildcard(topic) || seen.has(topic)) continue;
      seen.add(topic);
      const blob = await db.get<string, Buffer>(RETAINED_KEY_PREFIX + topic, { valueEncoding: 'buffer' });
      if (blob !== undefined) yield msgpack.decode(blob);
    }
    if (wildcards.length === 0) return;
    for await (const packet of scan(wildcards)) {
      // Already answered through an exact pattern: not twice.
      if (!seen.has((packet as { topic: string }).topic)) yield packet;
    }
  }

  persistence.createRetainedStreamCombi = (patterns) => Readable.from(lookup(patterns));
  persistence.createRetainedStream = (pattern) => Readable.from(lookup([pattern]));
}
