/**
 * npm run bench:e2e — bot to bot through two daemons and the broker, as real processes.
 * Prints one JSON line:
 *   e2e_msgs_per_s_w1 / e2e_p50_ms_w1 / e2e_p99_ms_w1  one message in flight: Send on alice's daemon
 *                                                       until bob's bot sees it on its Receive stream
 *   e2e_msgs_per_s_w100                                 100 messages in flight
 *   http_msgs_per_s_w100                                the same through the HTTP API: POST /v1/messages on a third
 *                                                       daemon (started with --http), 100 in flight over keep-alive
 *                                                       connections (an undici Pool), until bob's bot sees them
 *   raw_msgs_per_s_w100                                 raw mqtt.js QoS 1 pub→sub, 256 B, through the same broker
 *   e2e_to_raw_w100                                     the ratio of the two (target ≥ 1/3)
 *   rounds                                              [e2e W100, raw W100, HTTP W100] of each round: the three
 *                                                       alternate three times, the figures above are medians
 *   first_message_p50_ms                                first message to a new contact (bundle fetch + X3DH + delivery);
 *                                                       the contact's daemon is running and has talked to someone else
 *   cold_start_ms                                       daemon spawn (fresh data dir) to its ready line, median
 *   cpu_us_per_msg_w100                                 CPU time per message of each process during the W100 run
 *                                                       (Linux /proc; less sensitive to a busy machine than rates)
 *   http_cpu_us_per_msg_w100                            the same for the HTTP W100 run (bots = this process's HTTP client)
 * Everything is measured after a warm-up of 3,000 pipelined messages (steady state, not V8 warming up).
 * Options: --messages N (default 5000 for w100 and raw, N/4 for w1), --contacts N (new contacts, default 7).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { Pool } from 'undici';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';
import { connectMessenger, type MessengerClient } from '../daemon/api/client.ts';
import { loadCrypto } from '../crypto/index.ts';
import { createIdentity } from '../core/index.ts';
import { relayConnectOptions } from '../core/relay-auth.ts';
import { inboxTopic } from '../core/topics.ts';
import { BENCH_NODE_ARGS, processCpuMs } from './process-cpu.ts';

const BIN = new URL('../bin/ratchetd.mjs', import.meta.url).pathname;
const PAYLOAD = 256;
/** Pipelined messages sent (and not measured) before the measured runs. */
const WARMUP_MESSAGES = 3000;
/** W100 and raw runs, alternated; medians reported. */
const ROUNDS = 3;
const { values } = parseArgs({ options: { messages: { type: 'string', default: '5000' }, contacts: { type: 'string', default: '7' } } });
const messages = Number(values.messages);
const contacts = Number(values.contacts);
if (!(messages >= 100) || !(contacts >= 1)) {
  process.stderr.write('bench:e2e: --messages must be ≥ 100 and --contacts ≥ 1\n');
  process.exit(2);
}

const root = await mkdtemp(join(tmpdir(), 'ratchetd-bench-e2e-'));
const procs: ReadyProcess[] = [];
const clients: MessengerClient[] = [];

interface Daemon {
  name: string;
  proc: ReadyProcess;
  client: MessengerClient;
  userId: string;
  startMs: number;
}

async function startDaemon(name: string, brokerUrl: string, extra: string[] = []): Promise<Daemon> {
  const dir = join(root, name);
  const t0 = performance.now();
  const proc = await spawnReady(process.execPath, [...BENCH_NODE_ARGS, BIN, 'daemon', '--data', dir, '--broker', brokerUrl, '--socket', join(dir, 'api.sock'), '--log-level', 'warn', ...extra], { name });
  const startMs = performance.now() - t0;
  procs.push(proc);
  const client = connectMessenger({ socketPath: String(proc.ready['socket']) });
  clients.push(client);
  return { name, proc, client, userId: String(proc.ready['userId']), startMs };
}

/** Bob's bot: acks everything, resolves waiters by message body prefix. */
function receiver(bob: Daemon, onMessage: (body: string, at: number) => void): AbortController {
  const abort = new AbortController();
  void (async () => {
    const batch: string[] = [];
    for await (const e of bob.client.receive({ signal: abort.signal })) {
      if (e.kind !== 'message') continue;
      onMessage(Buffer.from(e.message.body).toString('latin1'), performance.now());
      batch.push(e.message.messageId);
      if (batch.length >= 50) void bob.client.ack(batch.splice(0)).catch(() => {});
    }
  })().catch(() => {});
  return abort;
}

/** CPU µs per message each process spent while `run` sent `total` messages. */
async function cpuPerMessage<T>(pids: Record<string, number>, total: number, run: () => Promise<T>): Promise<{ result: T; cpu: Record<string, number> }> {
  const before = await Promise.all(Object.values(pids).map(processCpuMs));
  const result = await run();
  const after = await Promise.all(Object.values(pids).map(processCpuMs));
  const cpu = Object.fromEntries(Object.keys(pids).map((name, i) => [name, Math.round(((after[i]! - before[i]!) * 1000) / total)]));
  return { result, cpu };
}

function body(tag: string): string {
  return (tag + ':').padEnd(PAYLOAD, '.');
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

type SendFn = (to: string, body: string) => Promise<unknown>;

const grpcSend = (from: Daemon): SendFn => (to, b) => from.client.send({ to, body: b, contentType: 'application/octet-stream' });

/** POST /v1/messages on a daemon's HTTP API over a pool of keep-alive connections. */
async function httpSender(daemon: Daemon, connections: number): Promise<{ send: SendFn; close: () => Promise<void> }> {
  const token = (await readFile(join(root, daemon.name, 'http.token'), 'utf8')).trim();
  const pool = new Pool(String(daemon.proc.ready['http']), { connections, pipelining: 1 });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const send: SendFn = async (to, b) => {
    const res = await pool.request({ path: '/v1/messages', method: 'POST', headers, body: JSON.stringify({ to, text: b, contentType: 'application/octet-stream' }) });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`POST /v1/messages: ${res.statusCode} ${text}`);
  };
  return { send, close: () => pool.close() };
}

async function e2e(alice: Daemon, bob: Daemon, total: number, window: number, label: string, send: SendFn = grpcSend(alice)) {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let done = 0;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const rx = receiver(bob, (b, at) => {
    const key = b.slice(0, b.indexOf(':'));
    const t = sentAt.get(key);
    if (t === undefined) return;
    sentAt.delete(key);
    latencies.push(at - t);
    done++;
    wake?.();
  });
  const t0 = performance.now();
  let next = 0;
  while (done < total) {
    while (next < total && next - done < window) {
      const key = `${label}${next++}`;
      sentAt.set(key, performance.now());
      send(bob.userId, body(key)).catch((e: unknown) => {
        failure = e;
        wake?.();
      });
    }
    await new Promise<void>((r) => (wake = r));
    if (failure !== null) throw failure;
  }
  const seconds = (performance.now() - t0) / 1000;
  rx.abort();
  return { rate: Math.round(total / seconds), p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function rawMqtt(url: string, total: number, window: number): Promise<number> {
  const { crypto } = await loadCrypto();
  const sub = createIdentity(crypto);
  const pub = createIdentity(crypto);
  const connect = (id: typeof sub) => mqtt.connectAsync(url, { ...relayConnectOptions(crypto, id, 'ratchetd', Date.now()), reconnectPeriod: 0 });
  const subscriber = await connect(sub);
  const publisher = await connect(pub);
  const topic = inboxTopic(sub.userId);
  await subscriber.subscribeAsync(topic, { qos: 1 });
  let received = 0;
  let wake: (() => void) | null = null;
  subscriber.on('message', () => {
    received++;
    wake?.();
  });
  const payload = Buffer.alloc(PAYLOAD, 7);
  const t0 = performance.now();
  let sent = 0;
  while (received < total) {
    while (sent < total && sent - received < window) {
      sent++;
      void publisher.publishAsync(topic, payload, { qos: 1 });
    }
    await new Promise<void>((r) => (wake = r));
  }
  const rate = Math.round(total / ((performance.now() - t0) / 1000));
  await Promise.all([subscriber.endAsync(true), publisher.endAsync(true)]);
  return rate;
}

try {
  const broker = await spawnReady(process.execPath, [...BENCH_NODE_ARGS, BIN, 'broker', '--port', '0', '--data', join(root, 'broker'), '--log-level', 'warn'], { name: 'broker' });
  procs.push(broker);
  const url = String(broker.ready['mqtt']);
  const alice = await startDaemon('alice', url);
  const bob = await startDaemon('bob', url);

  // New contacts (below) are started now, so their cold starts are measured on a quiet system.
  const colds: number[] = [alice.startMs, bob.startMs];
  const peers: Daemon[] = [];
  for (let i = 0; i < contacts; i++) {
    const peer = await startDaemon(`peer${i}`, url);
    colds.push(peer.startMs);
    peers.push(peer);
  }

  // The HTTP figure's sender, started after the cold starts above were measured (its HTTP server
  // is not part of them), with its own session to bob warmed up like alice's.
  const carol = await startDaemon('carol', url, ['--http', '127.0.0.1:0']);
  const http = await httpSender(carol, 100);

  // Warm up before measuring: the session both ways (X3DH done, first reply received), then a
  // pipelined run, so the figures are the steady state, not V8 compiling the hot paths (the first
  // ~2,000 messages of a fresh process run at half speed or less).
  await e2e(alice, bob, 20, 1, 'warm-a');
  await e2e(bob, alice, 5, 1, 'warm-b');
  await e2e(alice, bob, WARMUP_MESSAGES, 100, 'warm-w100-');
  await e2e(carol, bob, 20, 1, 'warm-c', http.send);
  await e2e(bob, carol, 5, 1, 'warm-cb');
  await e2e(carol, bob, WARMUP_MESSAGES, 100, 'warm-http-w100-', http.send);

  const w1 = await e2e(alice, bob, Math.max(100, Math.floor(messages / 4)), 1, 'w1-');
  await rawMqtt(url, WARMUP_MESSAGES, 100);
  // W100 and raw alternate, ROUNDS times each, and the medians are reported: on a shared 2-core
  // machine a burst of other work during one run would otherwise decide the ratio.
  const pids = { broker: broker.pid, sender_daemon: alice.proc.pid, receiver_daemon: bob.proc.pid, bots: process.pid };
  const httpPids = { broker: broker.pid, sender_daemon: carol.proc.pid, receiver_daemon: bob.proc.pid, bots: process.pid };
  type Round = { w100: Awaited<ReturnType<typeof e2e>>; w100Cpu: Record<string, number>; raw: number; rawCpu: Record<string, number>; http: Awaited<ReturnType<typeof e2e>>; httpCpu: Record<string, number> };
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const e = await cpuPerMessage(pids, messages, () => e2e(alice, bob, messages, 100, `w100-${r}-`));
    const m = await cpuPerMessage({ broker: broker.pid, clients: process.pid }, messages, () => rawMqtt(url, messages, 100));
    const h = await cpuPerMessage(httpPids, messages, () => e2e(carol, bob, messages, 100, `http-${r}-`, http.send));
    rounds.push({ w100: e.result, w100Cpu: e.cpu, raw: m.result, rawCpu: m.cpu, http: h.result, httpCpu: h.cpu });
  }
  await http.close();
  const medianRound = <T>(pick: (r: (typeof rounds)[number]) => number, value: (r: (typeof rounds)[number]) => T): T =>
    value([...rounds].sort((a, b) => pick(a) - pick(b))[Math.floor(rounds.length / 2)]!);
  const w100 = medianRound((r) => r.w100.rate, (r) => r.w100);
  const w100Cpu = medianRound((r) => r.w100.rate, (r) => r.w100Cpu);
  const raw = medianRound((r) => r.raw, (r) => r.raw);
  const rawCpu = medianRound((r) => r.raw, (r) => r.rawCpu);
  const httpW100 = medianRound((r) => r.http.rate, (r) => r.http);
  const httpCpu = medianRound((r) => r.http.rate, (r) => r.httpCpu);
  const ratios = rounds.map((r) => r.w100.rate / r.raw).sort((a, b) => a - b);

  // First message to a new contact: bundle fetch + X3DH + delivery. The contacts are running daemons
  // that have already talked to someone else (bob), as a contact's long-running daemon would have;
  // alice has never talked to them.
  const firsts: number[] = [];
  for (const [i, peer] of peers.entries()) {
    await e2e(bob, peer, 3, 1, `peer-warm${i}-`);
    const r = await e2e(alice, peer, 1, 1, `first${i}-`);
    firsts.push(r.p50);
  }
  const round = (x: number) => Number(x.toFixed(2));
  process.stdout.write(
    JSON.stringify({
      e2e_msgs_per_s_w1: w1.rate,
      e2e_msgs_per_s_w100: w100.rate,
      raw_msgs_per_s_w100: raw,
      e2e_to_raw_w100: Number(ratios[Math.floor(ratios.length / 2)]!.toFixed(3)),
      http_msgs_per_s_w100: httpW100.rate,
      http_to_e2e_w100: Number((httpW100.rate / w100.rate).toFixed(3)),
      rounds: rounds.map((r) => [r.w100.rate, r.raw, r.http.rate]),
      e2e_p50_ms_w1: round(w1.p50),
      e2e_p99_ms_w1: round(w1.p99),
      e2e_p50_ms_w100: round(w100.p50),
      e2e_p99_ms_w100: round(w100.p99),
      cpu_us_per_msg_w100: w100Cpu,
      raw_cpu_us_per_msg_w100: rawCpu,
      http_p50_ms_w100: round(httpW100.p50),
      http_p99_ms_w100: round(httpW100.p99),
      http_cpu_us_per_msg_w100: httpCpu,
      first_message_p50_ms: round(percentile(firsts, 50)),
      cold_start_ms: round(percentile(colds, 50)),
      payload_bytes: PAYLOAD,
      messages,
      new_contacts: contacts,
    }) + '\n',
  );
} finally {
  for (const c of clients) c.close();
  await Promise.all(procs.reverse().map((p) => stopProcess(p)));
  await rm(root, { recursive: true, force: true });
}
