import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
const db = new Level<string, Uint8Array>(join(await mkdtemp(join(tmpdir(), 'l-')), 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' });
await db.open();
const v = new Uint8Array(3000);
const ops = (i: number) => [
  { type: 'put' as const, key: 'peer!0123456789abcdef0123456789abcdef01234567', value: v },
  { type: 'put' as const, key: `inbox!${String(i).padStart(16, '0')}`, value: v.subarray(0, 400) },
  { type: 'put' as const, key: 'inboxid!0123456789abcdef0123456789abcdef01234567' + i, value: v.subarray(0, 60) },
  { type: 'put' as const, key: 'meta!counters', value: v.subarray(0, 60) },
];
for (const n of [2000]) {
  let c0 = process.cpuUsage(); let t0 = performance.now();
  for (let i = 0; i < n; i++) await db.batch(ops(i));
  let c = process.cpuUsage(c0);
  console.log('serial 4-op batch: wall µs', ((performance.now() - t0) * 1000 / n).toFixed(1), 'cpu µs', ((c.user + c.system) / n).toFixed(1));
}
