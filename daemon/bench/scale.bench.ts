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
 * The headline rates are the median round; RSS is the large daemon's peak (VmHWM) over the whole run.
 *
 * Prints one JSON line. Flags: --contacts N (10000) --messages M (3000) --rounds R (3) --concurrency C (32)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnReady, stopProcess, type ReadyProcess } from '../../bots/harness/process.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../protocol/crypto.ts';
import { createIdentity, verifyBundle, type VerifiedBundle } from '../protocol/index.ts';
import { bundleTopic } from '../protocol/topics.ts';
import type { UserId } from '../protocol/user-id.ts';
import { connectAs, encryptBurst, establishContacts, publishAll, type BenchContact } from './scale-contacts.ts';
import { CountingBot, processMemory } from './scale-receiver.ts';

const BIN = fileURLToPath(new URL('../../bin/ratchetd.mjs', import.meta.url));
const WINDOW = 200;
const SMALL = 10;

const { values } = parseArgs({
  options: {
    contacts: { type: 'string', default: '10000' },
    messages: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
  },
});
const LARGE = Number(values.contacts);
const MESSAGES = Number(values.messages);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);

const progress = (line: string): void => void process.stderr.write(`[bench:scale] ${line}\n`);

interface DaemonUnderTest {
  name: string;
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
  const proc = await spawnReady(process.execPath, [BIN, 'daemon', '--data', data, '--broker', brokerUrl, '--socket', join(dir, `${name}.sock`), '--log-level', 'warn'], {
    name: `daemon ${name}`,
    stderr: process.stderr,
  });
  const userId = proc.ready['userId'] as UserId;
  const socket = proc.ready['socket'] as string;
  return { name, proc, userId, socket, bot: new CountingBot(socket) };
}

/** One round: pre-encrypt, publish, wait until the bot has them all; messages per second. */
async function round(crypto: Crypto, brokerUrl: string, d: DaemonUnderTest, pool: number, label: string, seed: number): Promise<number> {
  const envelopes = encryptBurst(crypto, d.contacts, senders(MESSAGES, pool, seed), label);
  const client = await connectAs(crypto, brokerUrl, createIdentity(crypto));
  try {
    const t0 = performance.now();
    await publishAll(client, d.userId, envelopes, WINDOW);
    await d.bot.waitFor(label, MESSAGES, 300_000);
    return MESSAGES / ((performance.now() - t0) / 1000);
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

    const rates = { small: [] as number[], large: [] as number[], large_spread: [] as number[] };
    // Warm-up (JIT, caches), not counted.
    await round(crypto, brokerUrl, small, SMALL, 'warm-s', 1);
    await round(crypto, brokerUrl, large, SMALL, 'warm-l', 1);
    for (let r = 0; r < ROUNDS; r++) {
      rates.small.push(await round(crypto, brokerUrl, small, SMALL, `s${r}`, 100 + r));
      rates.large.push(await round(crypto, brokerUrl, large, SMALL, `l${r}`, 100 + r));
      rates.large_spread.push(await round(crypto, brokerUrl, large, LARGE, `x${r}`, 200 + r));
      progress(`round ${r + 1}: small ${r0(rates.small[r]!)}, large ${r0(rates.large[r]!)}, large_spread ${r0(rates.large_spread[r]!)} msg/s`);
    }
    const memLarge = await processMemory(large.proc.pid);
    const memSmall = await processMemory(small.proc.pid);
    const s = median(rates.small);
    const l = median(rates.large);
    const x = median(rates.large_spread);
    const ratio = l / s;
    console.log(
      JSON.stringify({
        contacts_small: SMALL,
        contacts_large: LARGE,
        recv_msgs_per_s_10: r0(s),
        recv_msgs_per_s_10k: r0(l),
        ratio_10k_vs_10: r2(ratio),
        recv_msgs_per_s_10k_spread: r0(x),
        ratio_spread_vs_10: r2(x / s),
        peak_rss_mb_10k: memLarge.peakRssMb,
        rss_mb_10k_end: memLarge.rssMb,
        peak_rss_mb_10: memSmall.peakRssMb,
        target_ratio: 0.8,
        target_rss_mb: 200,
        ok: ratio >= 0.8 && memLarge.peakRssMb <= 200,
        rounds: { small: rates.small.map(r0), large: rates.large.map(r0), large_spread: rates.large_spread.map(r0) },
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
