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
let sync = 0;
const n = 3000;
let t0 = performance.now();
for (let i = 0; i < n; i++) { const s = performance.now(); const p = db.batch(ops(i)); sync += performance.now() - s; await p; }
console.log('serial: wall µs', ((performance.now() - t0) * 1000 / n).toFixed(1), 'sync part µs', (sync * 1000 / n).toFixed(1));
{
const db2 = new Level<string, Uint8Array>(join(await mkdtemp(join(tmpdir(), 'l-')), 'db'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
await db2.open();
const vb = Buffer.alloc(3000);
let sync = 0; const t0 = performance.now();
for (let i = 0; i < n; i++) { const s = performance.now(); const p = db2.batch([
  { type: 'put' as const, key: 'peer!0123456789abcdef0123456789abcdef01234567', value: vb },
  { type: 'put' as const, key: `inbox!${String(i).padStart(16, '0')}`, value: vb.subarray(0, 400) },
  { type: 'put' as const, key: 'inboxid!0123456789abcdef0123456789abcdef01234567' + i, value: vb.subarray(0, 60) },
  { type: 'put' as const, key: 'meta!counters', value: vb.subarray(0, 60) },
] as any); sync += performance.now() - s; await p; }
console.log('buffer values: wall µs', ((performance.now() - t0) * 1000 / n).toFixed(1), 'sync part µs', (sync * 1000 / n).toFixed(1));
const cb = db2 as any;
let sync2 = 0; const t1 = performance.now();
for (let i = 0; i < n; i++) { const s = performance.now(); const b = db2.batch(); b.put('peer!0123456789abcdef0123456789abcdef01234567', vb); b.put(`inbox!${String(i).padStart(16, '0')}`, vb.subarray(0, 400)); b.put('inboxid!0123456789abcdef0123456789abcdef01234567' + i, vb.subarray(0, 60)); b.put('meta!counters', vb.subarray(0, 60)); const p = b.write(); sync2 += performance.now() - s; await p; }
console.log('chained: wall µs', ((performance.now() - t1) * 1000 / n).toFixed(1), 'sync part µs', (sync2 * 1000 / n).toFixed(1));
}
