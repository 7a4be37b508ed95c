/**
 * The two measurements of `npm run bench:relay`, both with a window W = messages sent and not yet
 * received (W=1 is a ping-pong, so its p50 is the one-way latency; W=100 is throughput):
 *  - raw: mqtt.js 5 QoS 1, 256-byte payloads, a persistent (clean:false) subscriber as a daemon is,
 *    publisher and subscriber in this process;
 *  - e2e: createDaemon to createDaemon in this process (LevelDB stores, encryption, outbox, receipts),
 *    256-byte bodies through backend.send / backend.subscribe; the receiver acks in batches.
 * Each run stops at `maxMessages` or after `maxMs`, whichever comes first, then waits for what is in
 * flight. Latency = send → receive, in ms.
 */
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Daemon } from '../daemon/engine/index.ts';
import type { Crypto } from '../core/crypto.ts';
import { relayConnectOptions } from '../core/relay-auth.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';
import type { UserId } from '../core/user-id.ts';

export const PAYLOAD_BYTES = 256;

export interface RunLimits {
  readonly window: number;
  readonly maxMessages: number;
  readonly maxMs: number;
}

/** One round: how many arrived in how long, and each one's latency (ms). */
export interface RoundResult {
  readonly messages: number;
  readonly seconds: number;
  readonly latencies: readonly number[];
}

/** Several rounds of one figure, summarised (what the bench prints). */
export interface RunResult {
  readonly window: number;
  readonly rounds: number;
  readonly messages: number;
  /** Median round; `best_msg_per_s` is the best round (least disturbed by other load). */
  readonly msg_per_s: number;
  readonly best_msg_per_s: number;
  /** Over every message of every round. */
  readonly p50_ms: number;
  readonly p99_ms: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

const round = (n: number, digits: number): number => Number(n.toFixed(digits));

export function summarise(window: number, rounds: readonly RoundResult[]): RunResult {
  const rates = rounds.map((r) => r.messages / r.seconds).sort((a, b) => a - b);
  const latencies = Float64Array.from(rounds.flatMap((r) => r.latencies)).sort();
  return {
    window,
    rounds: rounds.length,
    messages: rounds.reduce((n, r) => n + r.messages, 0),
    msg_per_s: Math.round(rates[Math.floor((rates.length - 1) / 2)] ?? 0),
    best_msg_per_s: Math.round(rates[rates.length - 1] ?? 0),
    p50_ms: round(percentile(latencies, 0.5), 3),
    p99_ms: round(percentile(latencies, 0.99), 3),
  };
}

/**
 * The windowed loop shared by both measurements: `send(seq)` starts message `seq`; the caller reports
 * arrivals with the returned `arrived(seq)`. Resolves when everything sent has arrived.
 */
function windowed(limits: RunLimits, send: (seq: number) => void): { done: Promise<RoundResult>; arrived: (seq: number) => void } {
  const sentAt = new Float64Array(limits.maxMessages);
  const latencies: number[] = [];
  let sent = 0;
  let received = 0;
  let resolve!: (r: RoundResult) => void;
  const done = new Promise<RoundResult>((r) => (resolve = r));
  const start = performance.now();
  const pump = (): void => {
    while (sent - received < limits.window && sent < limits.maxMessages && performance.now() - start < limits.maxMs) {
      sentAt[sent] = performance.now();
      send(sent++);
    }
    if (received === sent) resolve({ messages: received, seconds: (performance.now() - start) / 1000, latencies });
  };
  const arrived = (seq: number): void => {
    latencies.push(performance.now() - (sentAt[seq] ?? 0));
    received++;
    pump();
  };
  queueMicrotask(pump);
  return { done, arrived };
}

function payload(seq: number): Buffer {
  const b = Buffer.alloc(PAYLOAD_BYTES, 0x5a);
  b.writeUInt32BE(seq, 0);
  return b;
}

export interface RawEndpoint {
  readonly url: string;
  readonly identity: RelayIdentity;
}

/** An mqtt.js client as a daemon connects: 3.1.1, clean:false, client id = user id, proof or anonymous. */
export async function rawClient(url: string, identity: RelayIdentity, auth: 'proof' | 'none', crypto: Crypto): Promise<MqttClient> {
  const base: IClientOptions = { protocolVersion: 4, clean: false, reconnectPeriod: 0, clientId: identity.userId };
  const opts = auth === 'proof' ? { ...base, ...relayConnectOptions(crypto, identity, 'ratchetd', Date.now()) } : base;
  return mqtt.connectAsync(url, opts);
}

/** Raw QoS 1 publish → subscribe through the relay. Topics follow the relay layout (the ACL needs it). */
export async function rawRun(pub: MqttClient, sub: MqttClient, topic: string, limits: RunLimits): Promise<RoundResult> {
  const run = windowed(limits, (seq) => pub.publish(topic, payload(seq), { qos: 1 }));
  const onMessage = (_t: string, p: Buffer): void => run.arrived(p.readUInt32BE(0));
  sub.on('message', onMessage);
  try {
    return await run.done;
  } finally {
    sub.removeListener('message', onMessage);
  }
}

/** Daemon to daemon: alice.send → bob's message event (decrypted and stored). */
export async function e2eRun(alice: Daemon, bob: Daemon, bobId: UserId, limits: RunLimits): Promise<RoundResult> {
  const failures: unknown[] = [];
  const toAck: string[] = [];
  let arrived: ((seq: number) => void) | undefined; // undefined while subscribe() replays earlier runs
  const unsubscribe = await bob.backend.subscribe(0, (e) => {
    if (e.kind !== 'message' || arrived === undefined) return;
    toAck.push(e.message.messageId);
    if (toAck.length >= 100) void bob.backend.ack(toAck.splice(0));
    arrived(Buffer.from(e.message.body).readUInt32BE(0));
  });
  const run = windowed(limits, (seq) => {
    alice.backend.send({ to: bobId, body: payload(seq) }).catch((e: unknown) => failures.push(e));
  });
  arrived = run.arrived;
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (failures.length > 0) reject(failures[0]);
    }, 100);
  });
  try {
    const result = await Promise.race([run.done, failed]);
    if (toAck.length > 0) await bob.backend.ack(toAck.splice(0));
    return result;
  } finally {
    clearInterval(timer);
    unsubscribe();
  }
}
