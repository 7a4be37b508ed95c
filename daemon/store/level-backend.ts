/** RawBackend on LevelDB (`level`): utf8 keys, binary values, atomic batches. */
import { Level } from 'level';
import type { RawBackend, RawOp, RawRange } from './backend.ts';
import { StoreError } from './store.ts';

export async function openLevelBackend(location: string): Promise<RawBackend> {
  const db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (cause) {
    throw new StoreError(`cannot open the store at ${location} (is another daemon using this data dir?)`, { cause });
  }
  return {
    async get(key) {
      return (await db.get(key)) ?? undefined;
    },
    async batch(ops: readonly RawOp[]) {
      if (ops.length === 0) return;
      await db.batch(
        ops.map((op) =>
          // A Buffer view (no copy) takes classic-level's cheaper Buffer path for the value.
          op.type === 'put'
            ? { type: 'put' as const, key: op.key, value: Buffer.from(op.value.buffer, op.value.byteOffset, op.value.byteLength) }
            : { type: 'del' as const, key: op.key },
        ),
      );
    },
    async *iterate(range: RawRange) {
      const it = db.iterator({
        ...(range.gte !== undefined ? { gte: range.gte } : { gt: range.gt ?? '' }),
        lt: range.lt,
        reverse: range.reverse ?? false,
        ...(range.limit !== undefined ? { limit: range.limit } : {}),
      });
      try {
        for await (const [k, v] of it) yield [k, v] as const;
      } finally {
        await it.close();
      }
    },
    async close() {
      await db.close();
    },
  };
}
