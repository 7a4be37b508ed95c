/**
 * npm run bench:scale — does receiving slow down with many contacts? (issue 6, item 5)
 *
 * Real processes: one ratchetd broker (in-memory persistence, so the broker's own LevelDB does not
 * cap both figures alike and hide the daemon's cost) and two ratchetd daemons, "small" with 10
 * contacts and "large" with 10,000. Contacts are lightweight peers in this process (identity + peer
 * record, scale-contacts.ts) that set their sessions up through the broker like any peer: X3DH on
 * the daemon's published bundle, a first message, the daemon's encrypted receipt. Each daemon
 * processes those handshakes through its normal path (TOFU contact, peer record, routing-tag index).
 *
 * Then, in alternating rounds, `--messages` envelopes are pre-encrypted by the contacts, published
 * QoS 1 to the daemon's inbox over one connection (window 200), and a bot on the gRPC API receives
 * and acks them; throughput = messages / (first publish → last message at the bot).
 *   - small:          from its 10 contacts (uniformly at random);
 *   - large:          from 10 of its 10,000 contacts — the same traffic, in a daemon holding 10,000
 *                     contacts, sessions and index entries (the target: ≥ 0.8 × small);
 *   - large_spread:   from all 10,000 contacts at random (nearly every message from another peer:
 *                     the peer-record cache misses and every message gets its own receipt).
 * Rates are the median round, in two units: wall clock (msgs/s), and per second of the daemon's
 * own CPU time (cpu_msgs_per_s). On a dedicated machine the daemon (single-threaded) is the
 * bottleneck and both agree; on a shared one the wall figures swing by 2x with other jobs (see
 * load_avg), so the pass/fail gate `ok` uses the CPU-time ratio and prints the wall ratio beside it.
 * RSS of the large daemon is sampled every 100 ms; peak_rss_mb_10k (the gate) is its peak while the
 * 10,000 contacts are set up and during the same-traffic rounds; the spread rounds run last and their
 * peak is reported apart (peak_rss_mb_10k_by_phase.spread), as is VmHWM over the whole run.
 *
 * Prints one JSON line. Flags: --contacts N (10000) --messages M (3000) --rounds R (5) --concurrency C (128)
 * --daemon-node-args="FLAGS" (node/V8 flags for the two daemons, for experiments, e.g. "--cpu-prof
 * --cpu-prof-dir=DIR" or "--perf-basic-prof-only-functions" for `perf record -g -p PID`).
 * BENCH_SCALE_TRACE=1 prints, for every round, when it ran (ms after the daemon's spawn, to cut a
 * profile to the spread rounds) and the CPU per message of the daemon's main thread and of its other
 * threads together (libuv pool: LevelDB reads, writes, fsyncs; LevelDB compaction; V8 GC helpers).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../core/crypto.ts';
import { createIdentity, verifyBundle, type VerifiedBundle } from '../core/index.ts';
import { bundleTopic } from '../core/topics.ts';
import type { UserId } from '../core/user-id.ts';
import { connectAs, encryptBurst, establishContacts, publishAll, type BenchContact } from './scale-contacts.ts';
import { CountingBot, processCpuSeconds, processMemory, RssSampler, threadCpuSeconds } from './scale-receiver.ts';

const BIN = fileURLToPath(new URL('../bin/ratchetd.mjs', import.meta.url));
const WINDOW = 200;
const SMALL = 10;
/** BENCH_SCALE_TRACE=1: per-round timing (to cut a --cpu-prof) and CPU per thread on stderr. */
const TRACE = process.env['BENCH_SCALE_TRACE'] === '1';

const { values } = parseArgs({
  options: {
    contacts: { type: 'string', default: '10000' },
    messages: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '128' },
    'daemon-node-args': { type: 'string', default: '' },
  },
});
const LARGE = Number(values.contacts);
const MESSAGES = Number(values.messages);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
/** Extra node/V8 flags for the two daemons (experiments, e.g. "--max-semi-space-size=2"). */
const DAEMON_NODE_ARGS = values['daemon-node-args'].split(' ').filter((a) => a !== '');

const progress = (line: string): void => void process.stderr.write(`[bench:scale] ${line}\n`);

interface DaemonUnderTest {
  name: string;
  /** performance.now() when it was spawned (BENCH_SCALE_TRACE lines are relative to it, to cut a --cpu-prof). */
  spawnedAt: number;
  proc: ReadyProcess;
  userId: UserId;
  socket: string;
  bot: CountingBot;
  contacts: BenchContact[];
}

/** Deterministic sender choice (no Math.random in figures that are compared). */
function senders(count: number, pool: number, seed: number): number[] {
  let a = seed >>> 0;
  const next = (): number => {
    a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    a = (a ^ (a >>> 13)) >>> 0;
    return a;
  };
  return Array.from({ length: count }, () => next() % pool);
}

async function fetchBundle(crypto: Crypto, brokerUrl: string, userId: UserId): Promise<VerifiedBundle> {
  const client = await connectAs(crypto, brokerUrl, createIdentity(crypto));
  try {
    const got = new Promise<Uint8Array>((resolve) => client.once('message', (_t, payload) => resolve(new Uint8Array(payload))));
    await client.subscribeAsync(bundleTopic(userId), { qos: 0 });
    return verifyBundle(crypto, await got, userId, Date.now(), undefined);
  } finally {
    await client.endAsync(true);
  }
}

async function startDaemon(dir: string, name: string, brokerUrl: string): Promise<Omit<DaemonUnderTest, 'contacts'>> {
  const data = join(dir, name);
  const spawnedAt = performance.now();
  const proc = await spawnReady(process.execPath, [...DAEMON_NODE_ARGS, BIN, 'daemon', '--data', data, '--broker', brokerUrl, '--socket', join(dir, `${name}.sock`), '--log-level', 'warn'], {
    name: `daemon ${name}`,
    stderr: process.stderr,
  });
  const userId = proc.ready['userId'] as UserId;
  const socket = proc.ready['socket'] as string;
  return { name, spawnedAt, proc, userId, socket, bot: new CountingBot(socket) };
}

interface RoundResult {
  /** Messages per second of wall-clock time (first publish → last message at the bot). */
  wall: number;
  /** Messages per second of the daemon's own CPU time (robust against other load on the machine). */
  cpu: number;
}

/** One round: pre-encrypt, publish, wait until the bot has them all. */
async function round(crypto: Crypto, brokerUrl: string, d: DaemonUnderTest, pool: number, label: string, seed: number): Promise<RoundResult> {
  const envelopes = encryptBurst(crypto, d.contacts, senders(MESSAGES, pool, seed), label);
  const client = await connectAs(crypto, brokerUrl, createIdentity(crypto));
  try {
    const cpu0 = await processCpuSeconds(d.proc.pid);
    const threads0 = TRACE ? await threadCpuSeconds(d.proc.pid) : undefined;
    const t0 = performance.now();
    await publishAll(client, d.userId, envelopes, WINDOW);
    await d.bot.waitFor(label, MESSAGES, 300_000);
    const wallSeconds = (performance.now() - t0) / 1000;
    const tEnd = performance.now();
    // Receipts for the last messages leave a moment later; the next round's CPU window excludes them.
    const cpuSeconds = (await processCpuSeconds(d.proc.pid)) - cpu0;
    if (threads0 !== undefined) {
      const threads = [...(await threadCpuSeconds(d.proc.pid))].map(([name, s]) => [name, s - (threads0.get(name) ?? 0)] as const).filter(([, s]) => s > 0);
      const perMsg = threads.map(([name, s]) => `${name} ${Math.round((s * 1e6) / MESSAGES)}`).join(', ');
      progress(`${d.name} ${label}: ${Math.round(t0 - d.spawnedAt)}..${Math.round(tEnd - d.spawnedAt)} ms after its spawn; CPU µs/msg by thread: ${perMsg}`);
    }
    return { wall: MESSAGES / wallSeconds, cpu: MESSAGES / Math.max(cpuSeconds, 0.01) };
  } finally {
    await client.endAsync(true);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};
const r0 = (x: number): number => Math.round(x);
const r2 = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const crypto = await createSodiumCrypto();
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-scale-'));
  const procs: ReadyProcess[] = [];
  const bots: CountingBot[] = [];
  try {
    const broker = await spawnReady(process.execPath, [BIN, 'broker', '--port', '0', '--persistence', 'memory', '--log-level', 'warn'], { name: 'broker', stderr: process.stderr });
    procs.push(broker);
    const brokerUrl = broker.ready['mqtt'] as string;
    const small: DaemonUnderTest = { ...(await startDaemon(dir, 'small', brokerUrl)), contacts: [] };
    const large: DaemonUnderTest = { ...(await startDaemon(dir, 'large', brokerUrl)), contacts: [] };
    for (const d of [small, large]) {
      procs.push(d.proc);
      bots.push(d.bot);
    }

    const sampler = new RssSampler(large.proc.pid);
    await sampler.phase('setup');
    const setupStart = performance.now();
    for (const [d, count] of [[small, SMALL], [large, LARGE]] as const) {
      const bundle = await fetchBundle(crypto, brokerUrl, d.userId);
      let last = 0;
      d.contacts = await establishContacts(crypto, brokerUrl, d.userId, bundle, count, CONCURRENCY, (n) => {
        if (n - last >= 1000 || n === count) progress(`${d.name}: ${(last = n)} of ${count} contacts`);
      });
      await d.bot.waitFor('hello', count, 120_000);
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const afterSetup = await processMemory(large.proc.pid);
    progress(`set up in ${setupSeconds.toFixed(1)} s; large daemon RSS ${afterSetup.rssMb} MB`);

    const rates = { small: [] as RoundResult[], large: [] as RoundResult[], large_spread: [] as RoundResult[] };
    const show = (x: RoundResult | undefined): string => `${r0(x?.wall ?? 0)} (cpu ${r0(x?.cpu ?? 0)})`;
    await sampler.phase('same');
    // Warm-up (JIT, caches), not counted; then small and large alternate, so both see the same load.
    await round(crypto, brokerUrl, small, SMALL, 'warm-s', 1);
    await round(crypto, brokerUrl, large, SMALL, 'warm-l', 1);
    for (let r = 0; r < ROUNDS; r++) {
      rates.small.push(await round(crypto, brokerUrl, small, SMALL, `s${r}`, 100 + r));
      rates.large.push(await round(crypto, brokerUrl, large, SMALL, `l${r}`, 100 + r));
      progress(`round ${r + 1}: small ${show(rates.small[r])}, large ${show(rates.large[r])} msg/s`);
    }
    // The spread workload last, so its memory shows separately.
    await sampler.phase('spread');
    await round(crypto, brokerUrl, large, LARGE, 'warm-x', 2);
    for (let r = 0; r < ROUNDS; r++) {
      rates.large_spread.push(await round(crypto, brokerUrl, large, LARGE, `x${r}`, 200 + r));
      progress(`spread round ${r + 1}: large_spread ${show(rates.large_spread[r])} msg/s`);
    }
    const peaks = await sampler.stop();
    const memLarge = await processMemory(large.proc.pid);
    const memSmall = await processMemory(small.proc.pid);
    const med = (xs: RoundResult[], k: keyof RoundResult): number => median(xs.map((x) => x[k]));
    const s = med(rates.small, 'wall');
    const l = med(rates.large, 'wall');
    const x = med(rates.large_spread, 'wall');
    const ratio = l / s;
    const cpuRatio = med(rates.large, 'cpu') / med(rates.small, 'cpu');
    console.log(
      JSON.stringify({
        contacts_small: SMALL,
        contacts_large: LARGE,
        cpu_msgs_per_s_10: r0(med(rates.small, 'cpu')),
        cpu_msgs_per_s_10k: r0(med(rates.large, 'cpu')),
        cpu_ratio_10k_vs_10: r2(cpuRatio),
        peak_rss_mb_10k: Math.max(peaks['setup'] ?? 0, peaks['same'] ?? 0),
        recv_msgs_per_s_10: r0(s),
        recv_msgs_per_s_10k: r0(l),
        ratio_10k_vs_10: r2(ratio),
        cpu_msgs_per_s_10k_spread: r0(med(rates.large_spread, 'cpu')),
        cpu_ratio_spread_vs_10: r2(med(rates.large_spread, 'cpu') / med(rates.small, 'cpu')),
        recv_msgs_per_s_10k_spread: r0(x),
        ratio_spread_vs_10: r2(x / s),
        peak_rss_mb_10k_by_phase: peaks,
        peak_rss_mb_10k_vmhwm: memLarge.peakRssMb,
        rss_mb_10k_end: memLarge.rssMb,
        peak_rss_mb_10: memSmall.peakRssMb,
        target_ratio: 0.8,
        target_rss_mb: 200,
        ok_ratio: cpuRatio >= 0.8,
        ok_rss: Math.max(peaks['setup'] ?? 0, peaks['same'] ?? 0) <= 200,
        rounds_wall: { small: rates.small.map((v) => r0(v.wall)), large: rates.large.map((v) => r0(v.wall)), large_spread: rates.large_spread.map((v) => r0(v.wall)) },
        messages_per_round: MESSAGES,
        setup_s: r2(setupSeconds),
        broker_persistence: 'memory',
        cores: availableParallelism(),
        load_avg: r2(loadavg()[0] ?? 0),
      }),
    );
  } finally {
    await Promise.allSettled(bots.map((b) => b.close()));
    for (const p of procs.reverse()) await stopProcess(p, 5_000);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
