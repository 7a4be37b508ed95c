/**
 * npm run bench:relay — the relay's throughput, raw and end to end, through every relay we ship:
 * embedded Aedes (memory), Aedes + LevelDB, two Aedes nodes on one Redis, and stock Mosquitto.
 * Prints one JSON line per relay:
 *   {"relay":…, "raw":{"w1":…,"w100":…}, "e2e":{"w1":…,"w100":…}, "cores":…, "load_avg":…}
 * each figure being {window, rounds, messages, msg_per_s, best_msg_per_s, p50_ms, p99_ms}: it is
 * measured in ROUNDS short rounds; msg_per_s is the median round, best_msg_per_s the best (the one
 * least disturbed by whatever else runs on the machine), latencies are over all rounds.
 * When both aedes-memory and aedes-level run, a last line compares them (issue 16: a durable relay
 * near in-memory speed):
 *   {"comparison":"durable_to_memory","durable_to_memory_raw_w100":…, "memory":{…}, "durable":{…}}
 * raw W=100 through both brokers, started side by side, in COMPARE_ROUNDS alternating rounds (so a
 * change in the machine's load hits both alike); the ratio is durable/memory of the median rounds
 * (durable_to_memory_best_raw_w100: of the best rounds). On a machine busy with other work both
 * brokers wait for the CPU alike and the ratio drifts towards 1: compare at a low load average, or
 * look at durable_to_memory_cpu_w100 (the process's CPU time per message, memory over durable),
 * which the load moves much less.
 *
 * raw  mqtt.js QoS 1, 256-byte payloads, publisher and a clean:false subscriber in this process.
 * e2e  two daemons made with createDaemon IN THIS PROCESS (LevelDB stores in a temp dir, real
 *      mqtt.js relay clients, encryption, outbox and receipts), 256-byte bodies; alice sends,
 *      bob's message events are counted. Not through gRPC: this measures daemon + relay, not the API.
 * W = messages sent and not yet received: W=1 gives the latency, W=100 the throughput.
 * Everything shares this machine's cores (the bench process also runs the embedded brokers), so
 * figures compare relays against each other, not against a dedicated deployment.
 *
 *   --relays a,b     subset of aedes-memory,aedes-level,aedes-redis-2,mosquitto (default: all)
 *   --scale F        multiply every figure's time and message cap (default 1; the whole run < 3 min)
 * A relay whose server is not installed (mosquitto, redis-server) is reported as skipped.
 */
import { loadavg, availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { RELAY_NAMES, startRelay } from './relays-under-test.ts';
import type { RelayName, RelayUnderTest } from './relays-under-test.ts';
import { e2eRun, PAYLOAD_BYTES, rawClient, rawRun, summarise } from './throughput.ts';
import type { RoundResult, RunLimits, RunResult } from './throughput.ts';
import { RelayDaemons } from '../test/fixtures/relay-daemons.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import { createDaemon } from '../daemon/engine/index.ts';
import type { Crypto } from '../core/crypto.ts';
import { inboxTopic } from '../core/topics.ts';
import { deriveUserId } from '../core/user-id.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';

const { values } = parseArgs({ options: { relays: { type: 'string' }, scale: { type: 'string', default: '1' } } });
const scale = Number(values.scale);
const relays = (values.relays?.split(',') ?? [...RELAY_NAMES]) as RelayName[];
if (!(scale > 0) || relays.some((r) => !(RELAY_NAMES as readonly string[]).includes(r))) {
  process.stderr.write(`bench:relay: usage: [--relays ${RELAY_NAMES.join(',')}] [--scale F>0]\n`);
  process.exit(2);
}

/** Rounds per figure; each gets 1/ROUNDS of the figure's caps. */
const ROUNDS = 3;
/** Per-figure caps (message count, wall time); a round ends at whichever comes first. */
const RUNS = {
  raw: [
    { window: 1, maxMessages: 4000, maxMs: 1500 },
    { window: 100, maxMessages: 40_000, maxMs: 2500 },
  ],
  e2e: [
    { window: 1, maxMessages: 2000, maxMs: 2500 },
    { window: 100, maxMessages: 20_000, maxMs: 4000 },
  ],
} satisfies Record<string, RunLimits[]>;
const perRound = (l: RunLimits): RunLimits => ({
  window: l.window,
  maxMessages: Math.ceil((l.maxMessages * scale) / ROUNDS),
  maxMs: (l.maxMs * scale) / ROUNDS,
});
/** Alternating raw W=100 rounds per broker in the durable/memory comparison. */
const COMPARE_ROUNDS = 7;
/** Per comparison round (times --scale). */
const COMPARE_LIMITS: RunLimits = { window: 100, maxMessages: 15_000, maxMs: 800 };
/** A run that has not finished this long after its cap is reported as failed (a stuck relay). */
const STUCK_AFTER_MS = 30_000;

function identity(crypto: Crypto): RelayIdentity {
  const keyPair = crypto.ed25519KeyPair();
  return { userId: deriveUserId(crypto, keyPair.publicKey), keyPair };
}

/** ROUNDS rounds of `round`, each bounded in time; a stuck or failing round is reported as an error. */
async function figure(label: string, limits: RunLimits, round: () => Promise<RoundResult>, between?: () => Promise<void>): Promise<RunResult | { window: number; error: string }> {
  const results: RoundResult[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label} round ${i + 1} did not finish`)), limits.maxMs + STUCK_AFTER_MS);
      });
      try {
        results.push(await Promise.race([round(), stuck]));
      } finally {
        clearTimeout(timer);
      }
      await between?.();
    }
    return summarise(limits.window, results);
  } catch (e) {
    return { window: limits.window, error: e instanceof Error ? e.message : String(e) };
  }
}

async function rawRuns(relay: RelayUnderTest, crypto: Crypto): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const limits of RUNS.raw.map(perRound)) {
    // Fresh identities per figure: nothing queued from an earlier one.
    const [alice, bob] = [identity(crypto), identity(crypto)];
    const sub = await rawClient(relay.receiverUrl, bob, relay.auth, crypto);
    const pub = await rawClient(relay.senderUrl, alice, relay.auth, crypto);
    try {
      const topic = inboxTopic(bob.userId);
      await sub.subscribeAsync(topic, { qos: 1 });
      out[`w${limits.window}`] = await figure(`raw w${limits.window}`, limits, () => rawRun(pub, sub, topic, limits));
    } finally {
      await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
    }
  }
  return out;
}

async function e2eRuns(relay: RelayUnderTest, crypto: Crypto, fleet: RelayDaemons): Promise<Record<string, unknown>> {
  const logger = pino({ level: 'silent' });
  const relayAuth = relay.auth === 'proof' ? ('proof' as const) : {};
  const start = async (url: string) => {
    const dataDir = await fleet.tempDir('bench-daemon');
    const daemon = createDaemon({ dataDir, brokerUrl: url, logger, crypto, relayAuth });
    const { userId } = await daemon.start();
    return { daemon, userId };
  };
  const alice = await start(relay.senderUrl);
  const bob = await start(relay.receiverUrl);
  const out: Record<string, unknown> = {};
  try {
    // The session (bundle fetch, X3DH) is set up before anything is timed.
    await e2eRun(alice.daemon, bob.daemon, bob.userId, { window: 1, maxMessages: 20, maxMs: 60_000 });
    // Let the receipts settle so they do not overlap the next round.
    const settle = async (): Promise<void> => {
      const until = Date.now() + 15_000;
      while ((await alice.daemon.backend.getStatus()).outboxDepth > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    };
    for (const limits of RUNS.e2e.map(perRound)) {
      out[`w${limits.window}`] = await figure(`e2e w${limits.window}`, limits, () => e2eRun(alice.daemon, bob.daemon, bob.userId, limits), settle);
    }
  } finally {
    await alice.daemon.close();
    await bob.daemon.close();
  }
  return out;
}

/** One raw W=100 round through `relay` with fresh identities (nothing queued from an earlier round). */
async function rawRound(relay: RelayUnderTest, crypto: Crypto, limits: RunLimits): Promise<RoundResult> {
  const [alice, bob] = [identity(crypto), identity(crypto)];
  const sub = await rawClient(relay.receiverUrl, bob, relay.auth, crypto);
  const pub = await rawClient(relay.senderUrl, alice, relay.auth, crypto);
  try {
    const topic = inboxTopic(bob.userId);
    await sub.subscribeAsync(topic, { qos: 1 });
    return await rawRun(pub, sub, topic, limits);
  } finally {
    await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
  }
}

/** The durable (LevelDB) broker against the in-memory one, rounds alternating between them. */
async function compareDurableToMemory(crypto: Crypto): Promise<Record<string, unknown>> {
  const limits: RunLimits = { window: 100, maxMessages: Math.ceil(COMPARE_LIMITS.maxMessages * scale), maxMs: COMPARE_LIMITS.maxMs * scale };
  const load = loadavg()[0] ?? 0;
  const memory = await startRelay('aedes-memory', crypto);
  try {
    const durable = await startRelay('aedes-level', crypto);
    try {
      const rounds = { memory: [] as RoundResult[], durable: [] as RoundResult[] };
      const cpuMicros = { memory: 0, durable: 0 };
      for (let i = 0; i < COMPARE_ROUNDS; i++) {
        // Which goes first alternates too: neither always follows the other's teardown.
        const order = i % 2 === 0 ? (['memory', 'durable'] as const) : (['durable', 'memory'] as const);
        for (const which of order) {
          const before = process.cpuUsage();
          rounds[which].push(await rawRound(which === 'memory' ? memory : durable, crypto, limits));
          const used = process.cpuUsage(before);
          cpuMicros[which] += used.user + used.system;
        }
      }
      const m = summarise(100, rounds.memory);
      const d = summarise(100, rounds.durable);
      // CPU of this process (broker, both clients, LevelDB's threads) per message delivered.
      const cpuPerMessage = (which: 'memory' | 'durable') => Math.round(cpuMicros[which] / rounds[which].reduce((n, r) => n + r.messages, 0));
      return {
        comparison: 'durable_to_memory',
        durable_to_memory_raw_w100: Number((d.msg_per_s / m.msg_per_s).toFixed(2)),
        // The best rounds: each broker's least disturbed by whatever else runs on the machine.
        durable_to_memory_best_raw_w100: Number((d.best_msg_per_s / m.best_msg_per_s).toFixed(2)),
        // Less sensitive to the machine's load: memory's CPU per message over durable's.
        durable_to_memory_cpu_w100: Number((cpuPerMessage('memory') / cpuPerMessage('durable')).toFixed(2)),
        cpu_us_per_msg: { memory: cpuPerMessage('memory'), durable: cpuPerMessage('durable') },
        memory: m,
        durable: d,
        cores: availableParallelism(),
        load_avg: Number(load.toFixed(2)),
        load_avg_after: Number((loadavg()[0] ?? 0).toFixed(2)),
      };
    } finally {
      await durable.close();
    }
  } finally {
    await memory.close();
  }
}

const crypto = await createSodiumCrypto();
const fleet = new RelayDaemons(crypto);
const began = Date.now();
try {
  for (const name of relays) {
    const meta = { relay: name, payload_bytes: PAYLOAD_BYTES, cores: availableParallelism(), load_avg: Number((loadavg()[0] ?? 0).toFixed(2)) };
    let relay: RelayUnderTest;
    try {
      relay = await startRelay(name, crypto);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ ...meta, skipped: e instanceof Error ? e.message.split('\n')[0] : String(e) })}\n`);
      continue;
    }
    try {
      const raw = await rawRuns(relay, crypto);
      const e2e = await e2eRuns(relay, crypto, fleet);
      process.stdout.write(`${JSON.stringify({ ...meta, raw, e2e })}\n`);
    } finally {
      await relay.close();
    }
  }
  if (relays.includes('aedes-memory') && relays.includes('aedes-level')) {
    process.stdout.write(`${JSON.stringify(await compareDurableToMemory(crypto))}\n`);
  }
} finally {
  await fleet.closeAll();
  process.stderr.write(`bench:relay: done in ${((Date.now() - began) / 1000).toFixed(1)} s\n`);
}
