/**
 * npm run bench:soak — does anything grow with traffic? (issue 10, items 6 and 9)
 *
 * Real processes: one ratchetd broker (LevelDB persistence) and two ratchetd daemons; in this
 * process an echo bot (bots SDK) on bob's daemon answers every message with `ctx.reply` (which
 * names the message it answers, so its idempotency key lives only until the ack), and a driver bot
 * on alice's daemon keeps W round trips in flight and acks every echo. `--messages` counts both
 * directions (a round trip is two messages).
 *
 * At the end of the warm-up (`--warmup` messages) and at the end, sending pauses until every echo
 * is back and both daemons report empty inboxes and outboxes (receipts in), then the figures are
 * taken: the data dirs' on-disk size (both daemons, st_blocks, like du) and each daemon's VmRSS.
 * Every `--phase` messages a phase figure is taken without pausing (messages, rate, data dir, RSS).
 * After the run the daemons are stopped and their LevelDB stores opened directly: record counts by
 * kind (the part of each physical key before '!', visible without the key) show what the data dir
 * holds, and a full compaction shows how much of its size was garbage LevelDB had not compacted yet.
 *
 * Prints ONE JSON line:
 *   messages, msgs_per_s (after the warm-up), data_dir_mb_after_warmup, data_dir_mb_end,
 *   rss_mb_after_warmup, rss_mb_end (max of the two daemons; per daemon in rss_mb_by_daemon),
 *   targets {data_dir_end_le_2x_warmup, rss_end_le_warmup_plus_40mb}, phases [...],
 *   status_after_warmup / status_end (GetStatus of each daemon), records_end (by kind, per daemon),
 *   data_dir_mb_end_compacted, seconds.
 * Options: --messages N (100000) --warmup N (10000) --phase N (10000) --window W (100)
 *          --body BYTES (256) --echo-concurrency C (32)
 *          --memory-detail: each daemon runs bench/memory-probe.mjs, and every RSS figure comes with
 *          what it is made of (V8 heap by space, external, glibc malloc arenas, other anonymous,
 *          file-backed): memory_mb_by_daemon beside rss_mb_by_daemon.
 * RATCHETD_BENCH_NODE_ARGS: extra node arguments for the broker and daemons (e.g. `--heap-prof`).
 */
import { readdir, readFile, rm, stat, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Level } from 'level';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';
import { connect, type Bot } from '../bots/sdk/index.ts';
import { silentLogger } from '../bots/sdk/logger.ts';
import type { Status } from '../daemon/api/backend.ts';
import { STORE_DIR } from '../daemon/store/open-store.ts';

const BIN = new URL('../bin/ratchetd.mjs', import.meta.url).pathname;
/** Extra node arguments for the broker and daemon processes (e.g. `--heap-prof`), as bench:e2e takes them. */
const NODE_ARGS = (process.env['RATCHETD_BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
const MB = 1024 * 1024;
/** Targets from the issue: the data dir at the end ≤ 2× its size after warm-up, RSS ≤ warm-up + 40 MB. */
const DATA_DIR_GROWTH_LIMIT = 2;
const RSS_GROWTH_LIMIT_MB = 40;
/** Settling (echoes back, inboxes and outboxes empty) must not take longer than this. */
const SETTLE_TIMEOUT_MS = 120_000;

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    warmup: { type: 'string', default: '10000' },
    phase: { type: 'string', default: '10000' },
    window: { type: 'string', default: '100' },
    body: { type: 'string', default: '256' },
    'echo-concurrency': { type: 'string', default: '32' },
    'memory-detail': { type: 'boolean', default: false },
  },
});
const total = Number(values.messages);
const warmup = Number(values.warmup);
const phaseEvery = Number(values.phase);
const window = Number(values.window);
const bodyBytes = Number(values.body);
const echoConcurrency = Number(values['echo-concurrency']);
const memoryDetail = values['memory-detail'];
const PROBE = new URL('./memory-probe.mjs', import.meta.url).pathname;
if (!(total >= 2 * warmup && warmup >= 2 && phaseEvery >= 2 && window >= 1 && bodyBytes >= 1 && echoConcurrency >= 1)) {
  process.stderr.write('bench:soak: needs --messages ≥ 2 × --warmup, and positive --warmup, --phase, --window, --body, --echo-concurrency\n');
  process.exit(2);
}

const root = await mkdtemp(join(tmpdir(), 'ratchetd-bench-soak-'));
const procs: ReadyProcess[] = [];
const bots: Bot[] = [];

interface Daemon {
  name: string;
  dir: string;
  probeFile: string;
  proc: ReadyProcess;
  socket: string;
  userId: string;
}

async function startDaemon(name: string, brokerUrl: string): Promise<Daemon> {
  const dir = join(root, name);
  // The probe's file lives beside the data dir, not in it (the data dir's size is a figure).
  const probeFile = join(root, `${name}.memory.json`);
  const probe = memoryDetail ? ['--import', PROBE] : [];
  const env = memoryDetail ? { ...process.env, RATCHETD_MEMORY_PROBE_FILE: probeFile } : process.env;
  const proc = await spawnReady(process.execPath, [...NODE_ARGS, ...probe, BIN, 'daemon', '--data', dir, '--broker', brokerUrl, '--socket', join(dir, 'api.sock'), '--log-level', 'warn'], { name, env });
  procs.push(proc);
  return { name, dir, probeFile, proc, socket: String(proc.ready['socket']), userId: String(proc.ready['userId']) };
}

/** On-disk size of a directory tree (allocated blocks, as du), in bytes. A file that a compaction deletes meanwhile counts 0. */
async function diskBytes(path: string): Promise<number> {
  let sum = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) sum += await diskBytes(p);
    else if (entry.isFile()) sum += await stat(p).then((s) => s.blocks * 512, (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? 0 : Promise.reject(e)));
  }
  return sum;
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return round(kb / 1024);
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/** The probe's latest sample (bench/memory-probe.mjs, at most RATCHETD_MEMORY_PROBE_MS old), without its timestamp. */
async function memoryBreakdown(d: Daemon): Promise<Record<string, unknown>> {
  const { at: _at, ...sample } = JSON.parse(await readFile(d.probeFile, 'utf8')) as Record<string, unknown>;
  return sample;
}

async function snapshot(daemons: readonly Daemon[]) {
  const sizes = await Promise.all(daemons.map((d) => diskBytes(d.dir)));
  const rss = await Promise.all(daemons.map((d) => rssMb(d.proc.pid)));
  const memory = memoryDetail ? await Promise.all(daemons.map(memoryBreakdown)) : [];
  return {
    data_dir_mb: round(sizes.reduce((a, b) => a + b, 0) / MB, 2),
    data_dir_mb_by_daemon: Object.fromEntries(daemons.map((d, i) => [d.name, round(sizes[i]! / MB, 2)])),
    rss_mb: Math.max(...rss),
    rss_mb_by_daemon: Object.fromEntries(daemons.map((d, i) => [d.name, rss[i]!])),
    ...(memoryDetail ? { memory_mb_by_daemon: Object.fromEntries(daemons.map((d, i) => [d.name, memory[i]!])) } : {}),
  };
}

/** Record counts by kind (physical key prefix) and the on-disk size after a full compaction. */
async function inspectStore(d: Daemon): Promise<{ records: Record<string, number>; compactedMb: number }> {
  const db = new Level<string, Uint8Array>(join(d.dir, STORE_DIR), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  const records: Record<string, number> = {};
  for await (const key of db.keys()) {
    const kind = key.slice(0, key.indexOf('!'));
    records[kind] = (records[kind] ?? 0) + 1;
  }
  // classic-level's compactRange (level's typings leave it out)
  await (db as unknown as { compactRange(start: string, end: string): Promise<void> }).compactRange('', '\uffff');
  await db.close();
  return { records, compactedMb: round((await diskBytes(d.dir)) / MB, 2) };
}

try {
  const t0 = performance.now();
  const broker = await spawnReady(process.execPath, [...NODE_ARGS, BIN, 'broker', '--port', '0', '--data', join(root, 'broker'), '--persistence', 'level', '--log-level', 'warn'], { name: 'broker' });
  procs.push(broker);
  const url = String(broker.ready['mqtt']);
  const alice = await startDaemon('alice', url);
  const bob = await startDaemon('bob', url);
  const daemons = [alice, bob];

  const echo = await connect({ socket: bob.socket, concurrency: echoConcurrency, logger: silentLogger });
  bots.push(echo);
  echo.on('message', (ctx) => ctx.reply(ctx.body, { contentType: ctx.contentType }).then(() => undefined));
  const driver = await connect({ socket: alice.socket, concurrency: 64, logger: silentLogger });
  bots.push(driver);

  let sent = 0; // round trips started
  let echoed = 0; // round trips completed (the echo reached the driver's handler)
  let failure: unknown;
  let wake: (() => void) | undefined;
  driver.on('message', () => {
    echoed += 1;
    wake?.();
  });
  await Promise.all([echo.start(), driver.start()]);
  const body = new Uint8Array(bodyBytes).fill(0x2e);

  const sleepUntilWoken = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  /** Runs round trips until `untilRoundTrips` have come back; calls onPhase every phaseEvery messages. */
  async function run(untilRoundTrips: number, onPhase: () => Promise<void>): Promise<void> {
    let nextPhase = (Math.floor((2 * echoed) / phaseEvery) + 1) * phaseEvery;
    while (echoed < untilRoundTrips) {
      while (sent < untilRoundTrips && sent - echoed < window) {
        sent += 1;
        driver.send(bob.userId, body, { contentType: 'application/octet-stream' }).catch((e: unknown) => {
          failure = e;
          wake?.();
        });
      }
      await sleepUntilWoken();
      if (failure !== undefined) throw failure;
      if (2 * echoed >= nextPhase) {
        nextPhase += phaseEvery;
        await onPhase();
      }
    }
  }

  async function statuses(): Promise<Record<string, Status>> {
    const [a, b] = await Promise.all([driver.getStatus(), echo.getStatus()]);
    return { alice: a, bob: b };
  }

  /** Every echo back, then both daemons with empty inboxes and outboxes (receipts arrived). */
  async function settle(): Promise<Record<string, Status>> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      const s = await statuses();
      if (echoed === sent && Object.values(s).every((x) => x.inboxDepth === 0 && x.outboxDepth === 0)) return s;
      if (Date.now() > deadline) throw new Error(`bench:soak: not settled after ${SETTLE_TIMEOUT_MS} ms: ${JSON.stringify({ sent, echoed, s })}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const phases: Array<Record<string, unknown>> = [];
  let phaseStart = { at: performance.now(), messages: 0 };
  const phase = async (): Promise<void> => {
    const now = performance.now();
    const messages = 2 * echoed;
    phases.push({ messages, msgs_per_s: Math.round((messages - phaseStart.messages) / ((now - phaseStart.at) / 1000)), ...(await snapshot(daemons)) });
    phaseStart = { at: now, messages };
  };

  await run(warmup / 2, phase);
  const statusAfterWarmup = await settle();
  const afterWarmup = await snapshot(daemons);
  const measuredFrom = { at: performance.now(), messages: 2 * echoed };
  phaseStart = measuredFrom;

  await run(total / 2, phase);
  const measuredSeconds = (performance.now() - measuredFrom.at) / 1000;
  const statusEnd = await settle();
  const end = await snapshot(daemons);

  for (const b of bots.splice(0)) await b.stop();
  await Promise.all([alice, bob].map((d) => stopProcess(d.proc)));
  procs.splice(procs.indexOf(alice.proc), 1);
  procs.splice(procs.indexOf(bob.proc), 1);
  const inspected = await Promise.all(daemons.map(inspectStore));

  process.stdout.write(
    JSON.stringify({
      messages: 2 * echoed,
      msgs_per_s: Math.round((2 * echoed - measuredFrom.messages) / measuredSeconds),
      data_dir_mb_after_warmup: afterWarmup.data_dir_mb,
      data_dir_mb_end: end.data_dir_mb,
      rss_mb_after_warmup: afterWarmup.rss_mb,
      rss_mb_end: end.rss_mb,
      targets: {
        data_dir_end_le_2x_warmup: end.data_dir_mb <= DATA_DIR_GROWTH_LIMIT * afterWarmup.data_dir_mb,
        rss_end_le_warmup_plus_40mb: end.rss_mb <= afterWarmup.rss_mb + RSS_GROWTH_LIMIT_MB,
      },
      data_dir_mb_by_daemon: { after_warmup: afterWarmup.data_dir_mb_by_daemon, end: end.data_dir_mb_by_daemon },
      rss_mb_by_daemon: { after_warmup: afterWarmup.rss_mb_by_daemon, end: end.rss_mb_by_daemon },
      ...(memoryDetail ? { memory_mb_by_daemon: { after_warmup: afterWarmup.memory_mb_by_daemon, end: end.memory_mb_by_daemon } } : {}),
      data_dir_mb_end_compacted: round(inspected.reduce((a, x) => a + x.compactedMb, 0), 2),
      records_end: Object.fromEntries(daemons.map((d, i) => [d.name, inspected[i]!.records])),
      status_after_warmup: pickStatus(statusAfterWarmup),
      status_end: pickStatus(statusEnd),
      phases,
      window,
      body_bytes: bodyBytes,
      echo_concurrency: echoConcurrency,
      seconds: Math.round((performance.now() - t0) / 1000),
    }) + '\n',
  );
} finally {
  for (const b of bots) await b.stop().catch(() => undefined);
  await Promise.all(procs.reverse().map((p) => stopProcess(p)));
  await rm(root, { recursive: true, force: true });
}

function pickStatus(s: Record<string, Status>): Record<string, Partial<Status>> {
  return Object.fromEntries(
    Object.entries(s).map(([name, x]) => [name, { contacts: x.contacts, inboxDepth: x.inboxDepth, outboxDepth: x.outboxDepth, idempotencyRecords: x.idempotencyRecords }]),
  );
}
