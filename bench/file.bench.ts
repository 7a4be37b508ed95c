/**
 * npm run bench:file — one file daemon to daemon, and the same bytes raw, through one broker.
 * Prints one JSON line:
 *   {"mib":256, "mb_per_s":…, "raw_mb_per_s":…, "ratio":…, "idle_rss_mb":…, "sender_peak_rss_mb":…,
 *    "receiver_peak_rss_mb":…, "seconds":…, "raw_seconds":…, "cpu_seconds_sealing":{…}, "cpu_seconds_transfer":{…},
 *    "raw_cpu_seconds":{…}, "chunk_bytes":…, "window":…, "cores":…, "load_avg":[…]}
 *
 * mb_per_s      a MIB-sized random file (default 256) from `ratchetd daemon` to `ratchetd daemon` (real
 *               processes, LevelDB stores) through `ratchetd broker --persistence level`, SendFile over
 *               gRPC from a file on disk until the recipient's message event (stored, SHA-256 verified)
 * raw_mb_per_s  the same number of bytes as mqtt.js QoS 1 messages of the chunk envelope's size, with
 *               the same number in flight as the daemon's window, publisher and subscriber in this
 *               process, through the same broker, in the same run
 * RSS           from /proc: idle = the larger daemon's resident set before the transfer; peaks =
 *               each daemon's VmHWM after it (and the sender's once SendFile returned: the file
 *               is then sealed to its spool, seal_seconds after the start)
 * cpu_seconds_* CPU time (user + system, all threads, /proc) of the broker, the sending and receiving
 *               daemons and this process (the gRPC client uploading the file, or the raw clients):
 *               while SendFile seals the file, from then until the recipient's event, and in the raw run
 * Targets: mb_per_s ≥ 0.5 × raw_mb_per_s; both peaks ≤ idle + 64 MiB. Everything shares this
 * machine's cores: compare figures of one run, and look at load_avg.
 *   --mib N   file size in MiB (default 256)
 */
import { createWriteStream, createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';
import { connectMessenger, type ApiEvent } from '../daemon/api/client.ts';
import { createNativeCrypto } from '../crypto/native.ts';
import { FILE_CHUNK_ENVELOPE_BYTES } from '../core/file/chunk-envelope.ts';
import { DEFAULT_FILE_OPTIONS } from '../daemon/engine/files/file-options.ts';
import { inboxTopic } from '../core/topics.ts';
import { deriveUserId } from '../core/user-id.ts';
import { rawClient } from './throughput.ts';
import { BENCH_NODE_ARGS, processCpuMs } from './process-cpu.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' } } });
const MIB = Number(values.mib);
if (!(MIB > 0)) {
  process.stderr.write('bench:file: usage: [--mib N>0]\n');
  process.exit(2);
}
const BIN = new URL('../bin/ratchetd.mjs', import.meta.url).pathname;
const procs: ReadyProcess[] = [];
const spawn = async (args: string[], name: string): Promise<ReadyProcess> => {
  const p = await spawnReady(process.execPath, [...BENCH_NODE_ARGS, BIN, ...args, '--log-level', 'warn'], { name, readyTimeoutMs: 60_000 });
  procs.push(p);
  return p;
};
const rss = (pid: number, field: 'VmRSS:' | 'VmHWM:'): number => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(field)) ?? '';
  return Number(/(\d+) kB/.exec(line)?.[1] ?? NaN) / 1024;
};
const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const block = Buffer.alloc(1024 * 1024);
  for (let done = 0; done < bytes; done += block.length) {
    randomFillSync(block);
    if (!out.write(block.subarray(0, Math.min(block.length, bytes - done)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

async function rawRun(url: string, bytes: number): Promise<number> {
  const crypto = createNativeCrypto();
  const id = () => {
    const keyPair = crypto.ed25519KeyPair();
    return { userId: deriveUserId(crypto, keyPair.publicKey), keyPair };
  };
  const [a, b] = [id(), id()];
  const sub = await rawClient(url, b, 'proof', crypto);
  const pub = await rawClient(url, a, 'proof', crypto);
  try {
    const topic = inboxTopic(b.userId);
    await sub.subscribeAsync(topic, { qos: 1 });
    const total = Math.ceil(bytes / FILE_CHUNK_ENVELOPE_BYTES);
    const window = DEFAULT_FILE_OPTIONS.windowChunks;
    const payload = randomFillSync(Buffer.alloc(FILE_CHUNK_ENVELOPE_BYTES));
    let sent = 0;
    let arrived = 0;
    const start = performance.now();
    await new Promise<void>((resolve) => {
      const fill = (): void => {
        while (sent < total && sent - arrived < window) {
          sent++;
          pub.publish(topic, payload, { qos: 1 });
        }
      };
      sub.on('message', () => {
        arrived++;
        if (arrived === total) resolve();
        else fill();
      });
      fill();
    });
    return (performance.now() - start) / 1000;
  } finally {
    await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'ratchetd-bench-file-'));
  try {
    const broker = await spawn(['broker', '--port', '0', '--data', join(root, 'broker'), '--persistence', 'level'], 'broker');
    const url = String(broker.ready['mqtt']);
    const daemon = (name: string) => spawn(['daemon', '--data', join(root, name), '--broker', url, '--socket', join(root, `${name}.sock`)], name);
    const [alice, bob] = await Promise.all([daemon('alice'), daemon('bob')]);
    const ac = connectMessenger({ socketPath: join(root, 'alice.sock') });
    const bc = connectMessenger({ socketPath: join(root, 'bob.sock') });
    const bobId = String(bob.ready['userId']);
    const events: ApiEvent[] = [];
    let wake: () => void = () => undefined;
    const abort = new AbortController();
    void (async () => {
      for await (const e of bc.receive({ signal: abort.signal })) {
        events.push(e);
        wake();
      }
    })().catch(() => undefined);
    const until = (pred: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (pred()) resolve();
        };
        wake = check;
        check();
      });
    await ac.send({ to: bobId, body: 'hello' });
    await until(() => events.some((e) => e.kind === 'message'));
    const bytes = MIB * 1024 * 1024;
    const path = join(root, 'file.bin');
    await writeRandomFile(path, bytes);
    const idle = Math.max(rss(alice.pid, 'VmRSS:'), rss(bob.pid, 'VmRSS:'));
    const pids = { broker: broker.pid, sender: alice.pid, receiver: bob.pid, client: process.pid };
    const cpuNow = (): Promise<number[]> => Promise.all(Object.values(pids).map(processCpuMs));
    const cpuSince = (before: number[], after: number[]): Record<string, number> =>
      Object.fromEntries(Object.keys(pids).map((name, i) => [name, round((after[i]! - before[i]!) / 1000, 2)]));
    const cpuStart = await cpuNow();
    const start = performance.now();
    const { messageId } = await ac.sendFile({ to: bobId, fileName: 'file.bin', size: bytes }, createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>);
    const senderPeakSealed = rss(alice.pid, 'VmHWM:');
    const sealSeconds = (performance.now() - start) / 1000;
    const cpuSealed = await cpuNow();
    await until(() => events.some((e) => e.kind === 'message' && e.message.messageId === messageId && e.message.attachment !== undefined));
    const seconds = (performance.now() - start) / 1000;
    const cpuEnd = await cpuNow();
    const senderPeak = rss(alice.pid, 'VmHWM:');
    const receiverPeak = rss(bob.pid, 'VmHWM:');
    abort.abort();
    ac.close();
    bc.close();
    const cpuRawStart = await cpuNow();
    const rawSeconds = await rawRun(url, bytes);
    const cpuRawEnd = await cpuNow();
    const mb = bytes / 1e6;
    const out = {
      mib: MIB,
      mb_per_s: round(mb / seconds, 2),
      raw_mb_per_s: round(mb / rawSeconds, 2),
      ratio: round(rawSeconds / seconds, 2),
      idle_rss_mb: round(idle),
      sender_peak_rss_mb: round(senderPeak),
      sender_peak_rss_mb_after_sealing: round(senderPeakSealed),
      seal_seconds: round(sealSeconds, 2),
      receiver_peak_rss_mb: round(receiverPeak),
      seconds: round(seconds, 2),
      raw_seconds: round(rawSeconds, 2),
      cpu_seconds_sealing: cpuSince(cpuStart, cpuSealed),
      cpu_seconds_transfer: cpuSince(cpuSealed, cpuEnd),
      raw_cpu_seconds: cpuSince(cpuRawStart, cpuRawEnd),
      chunk_bytes: FILE_CHUNK_ENVELOPE_BYTES,
      window: DEFAULT_FILE_OPTIONS.windowChunks,
      cores: availableParallelism(),
      load_avg: loadavg().map((l) => round(l, 2)),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await rm(root, { recursive: true, force: true });
  }
}

await main();
