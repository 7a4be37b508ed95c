import net from 'node:net';
const orig = net.createServer;
(net as any).createServer = (...args: any[]) => { const s = (orig as any)(...args); s.on('connection', (sock: net.Socket) => sock.setNoDelay(true)); return s; };
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createBroker } from '../../broker/index.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import { createDaemon } from './index.ts';
import { EventLog, text } from './test-support.ts';

const persistence = (process.argv[2] ?? 'memory') as 'memory' | 'level';
const N = Number(process.argv[3] ?? 2000);
const silent = pino({ level: 'silent' });
const crypto = await createSodiumCrypto();
const broker = createBroker({ dataDir: await mkdtemp(join(tmpdir(), 'pb-')), persistence, port: 0, logger: silent, crypto });
const { url } = await broker.start();
const mk = async (name: string) => {
  const t0 = performance.now();
  const d = createDaemon({ dataDir: await mkdtemp(join(tmpdir(), name)), brokerUrl: url, logger: silent });
  const { userId } = await d.start();
  const startMs = performance.now() - t0;
  const log = new EventLog();
  await d.backend.subscribe(0, log.push);
  return { d, userId, log, startMs };
};
const alice = await mk('a-');
const bob = await mk('b-');
console.log('start ms', alice.startMs.toFixed(1), bob.startMs.toFixed(1));
// first message
let t0 = performance.now();
await alice.d.backend.send({ to: bob.userId, body: text('first') });
console.log('first send returned ms', (performance.now() - t0).toFixed(1));
await bob.log.until((l) => l.messages().length === 1, 'first');
console.log('first message ms', (performance.now() - t0).toFixed(1));
// w1
const lat: number[] = [];
for (let i = 0; i < 200; i++) {
  const t = performance.now();
  await alice.d.backend.send({ to: bob.userId, body: new Uint8Array(256) });
  await bob.log.until((l) => l.messages().length === 2 + i, 'w1');
  lat.push(performance.now() - t);
}
lat.sort((a, b) => a - b);
console.log('w1 p50', lat[100]!.toFixed(2), 'p99', lat[198]!.toFixed(2));
// w100
const base = bob.log.messages().length;
t0 = performance.now();
let sent = 0;
const inflight = new Set<Promise<unknown>>();
while (sent < N) {
  while (inflight.size < 100 && sent < N) {
    const p = alice.d.backend.send({ to: bob.userId, body: new Uint8Array(256) });
    sent++;
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  }
  await Promise.race(inflight);
  // window by received count
  while (sent - (bob.log.messages().length - base) >= 100) await bob.log.until((l) => sent - (l.messages().length - base) < 100, 'w');
}
await bob.log.until((l) => l.messages().length - base >= N, 'all');
const dt = performance.now() - t0;
console.log('w100 msgs/s', (N / (dt / 1000)).toFixed(0));
await alice.d.close();
await bob.d.close();
await broker.close();
