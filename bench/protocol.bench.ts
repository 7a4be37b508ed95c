/**
 * npm run bench:protocol — the protocol core's speed, as a daemon that persists every message uses it.
 * One message = encrypt, serialise the sender's peer record, deserialise the receiver's record,
 * decode the envelope, decrypt, serialise the receiver's record (the sender's record is decoded
 * before encrypting, as a daemon loads it). Ping-pong alternates direction, so every message is a
 * DH ratchet step. Setup = verify a ready-made bundle, PQXDH (X3DH + ML-KEM-768) on both sides and
 * the first message (bundle creation not counted): `session_setup_ms` and `pq_session_setup_ms` are
 * that; `x3dh_session_setup_ms` is the same with a format-1 bundle (X3DH only, as with a daemon of
 * the previous version), for comparison. `bundle_bytes` is the published bundle (100 one-time
 * prekeys, 10 one-time PQ prekeys), `first_message_bytes` the first envelope of a session with a
 * 256-byte payload (PQXDH; `x3dh_first_message_bytes` the X3DH one). Each side has its own Crypto instance, as two daemons would (the core
 * remembers some public-key conversions per instance, keys.ts).
 *
 * Noise: a shared machine makes single runs swing by 2x. Each figure is measured in several timed
 * windows; the headline numbers are the MEDIAN window, `best` holds the best window (what the code
 * does when nothing else runs), `spread` the worst/best ratio, `load_avg` the 1-minute load average
 * at the start (cores: `cores`). `cpu_time` gives the same medians (and best windows) per second of
 * this process's CPU time (all its threads, GC included), which other jobs on the machine disturb far
 * less than the wall clock. `per_message_us` times each step of one-way messages separately (wall clock).
 *
 * Prints one JSON line: the default libsodium build (as the daemon picks it) at top level, the WASM
 * build under "wasm".
 *   --seconds N    time per figure, split into windows (default 3)
 *   --windows W    number of windows per figure (default 7)
 *   --backend B    all (default) | default | wasm
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { loadCrypto } from '../crypto/index.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../core/crypto.ts';
import {
  acceptHandshake,
  buildBundle,
  createIdentity,
  createPrekeyState,
  decodeEnvelope,
  decodePeerRecord,
  decryptFromPeer,
  encodePeerRecord,
  encryptForPeer,
  startSession,
  unsealSender,
  verifyBundle,
  type LocalIdentity,
  type PrekeyState,
} from '../core/index.ts';

const PAYLOAD_BYTES = 256;
const CONTENT_TYPE = 'application/octet-stream';
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    windows: { type: 'string', default: '7' },
    backend: { type: 'string', default: 'all' },
  },
});
const seconds = Number(values.seconds);
const windows = Number(values.windows);
if (!(seconds > 0) || !Number.isInteger(windows) || windows < 1 || !['all', 'default', 'wasm'].includes(values.backend)) {
  process.stderr.write('bench:protocol: usage: [--seconds N>0] [--windows W≥1] [--backend all|default|wasm]\n');
  process.exit(2);
}
const windowMs = (seconds * 1000) / windows;

/** The two daemons' Crypto instances (same build). */
type Pair = readonly [alice: Crypto, bob: Crypto];

interface Side {
  crypto: Crypto;
  own: LocalIdentity;
  record: Uint8Array; // the stored peer record, as a daemon keeps it between messages
}

interface Party {
  crypto: Crypto;
  own: LocalIdentity;
}

interface Responder extends Party {
  bundle: Uint8Array; // published, ready-made
  prekeys: PrekeyState;
}

/**
 * Identities and Bob's published bundle: made before the clock starts (not part of setup). `pq`
 * false: Bob's state without PQ prekeys (format-1 bundle, X3DH).
 */
function parties([ca, cb]: Pair, now: number, pq = true): { alice: Party; bob: Responder } {
  const alice = createIdentity(ca);
  const bob = createIdentity(cb);
  const full = createPrekeyState(cb, now);
  const state = pq ? full : { ...full, pqLastResortPrekeys: [], pqOneTimePrekeys: [] };
  const { bundle, next } = buildBundle(cb, bob, state, now);
  return { alice: { crypto: ca, own: alice }, bob: { crypto: cb, own: bob, bundle, prekeys: next } };
}

/** The timed part of setup: verify the bundle, X3DH on both sides, the first message. */
function establish(alice: Party, bob: Responder, body: Uint8Array, now: number): { a: Side; b: Side; firstBytes: number } {
  const ca = alice.crypto;
  const cb = bob.crypto;
  const verified = verifyBundle(ca, bob.bundle, bob.own.userId, now);
  const started = startSession(ca, alice.own, null, verified, now);
  const first = encryptForPeer(ca, alice.own, started, { kind: 'message', body, contentType: CONTENT_TYPE }, now);
  const env = decodeEnvelope(first.envelope);
  if (env.kind !== 'handshake') throw new Error('first envelope must be a handshake');
  const sender = unsealSender(cb, bob.own, env);
  const accepted = acceptHandshake(cb, bob.own, bob.prekeys, null, env, sender, now, () => false);
  return {
    a: { crypto: ca, own: alice.own, record: encodePeerRecord(first.next) },
    b: { crypto: cb, own: bob.own, record: encodePeerRecord(accepted.next) },
    firstBytes: first.envelope.length,
  };
}

function message(from: Side, to: Side, body: Uint8Array, now: number): void {
  const sent = encryptForPeer(from.crypto, from.own, decodePeerRecord(from.record), { kind: 'message', body, contentType: CONTENT_TYPE }, now);
  from.record = encodePeerRecord(sent.next);
  const receiver = decodePeerRecord(to.record);
  const env = decodeEnvelope(sent.envelope);
  if (env.kind !== 'session') throw new Error('after the first reply every envelope is a session envelope');
  to.record = encodePeerRecord(decryptFromPeer(to.crypto, receiver, env, now).next);
}

/** The same message, each step timed separately (µs accumulated into `acc`). */
function timedMessage(from: Side, to: Side, body: Uint8Array, now: number, acc: Record<string, number>): void {
  let t = performance.now();
  const lap = (name: string): void => {
    const t1 = performance.now();
    acc[name] = (acc[name] ?? 0) + (t1 - t) * 1000;
    t = t1;
  };
  const sender = decodePeerRecord(from.record);
  lap('decode_sender_record');
  const sent = encryptForPeer(from.crypto, from.own, sender, { kind: 'message', body, contentType: CONTENT_TYPE }, now);
  lap('encrypt_for_peer');
  from.record = encodePeerRecord(sent.next);
  lap('encode_sender_record');
  const receiver = decodePeerRecord(to.record);
  lap('decode_receiver_record');
  const env = decodeEnvelope(sent.envelope);
  lap('decode_envelope');
  if (env.kind !== 'session') throw new Error('after the first reply every envelope is a session envelope');
  const received = decryptFromPeer(to.crypto, receiver, env, now);
  lap('decrypt_from_peer');
  to.record = encodePeerRecord(received.next);
  lap('encode_receiver_record');
}

/** CPU time of this process (all its threads, so GC helpers count too), in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Windows {
  /** per window, by the wall clock */
  readonly wall: number[];
  /** per window, by this process's CPU time: what other jobs on the machine change least */
  readonly cpu: number[];
}

/** Messages per second in each window. */
function rates(run: (i: number) => void): Windows {
  let n = 0;
  for (let i = 0; i < 300; i++) run(n++); // warm up (JIT)
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let w = 0; w < windows; w++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    const deadline = t0 + windowMs;
    let done = 0;
    while (performance.now() < deadline) {
      for (let k = 0; k < 20; k++) run(n++);
      done += 20;
    }
    wall.push((done * 1000) / (performance.now() - t0));
    cpu.push((done * 1000) / Math.max(cpuMs() - c0, 1e-3));
  }
  return { wall, cpu };
}

/**
 * Prepared parties, used in turn: more than the core remembers identity-key conversions for
 * (keys.ts, 64), so every setup meets keys as a fresh contact would, never remembered ones.
 */
const SETUP_PARTIES = 100;

/** Median setup time (ms) in each window. */
function setupTimes(pair: Pair, now: number, body: Uint8Array, pq = true): Windows {
  const prepared = Array.from({ length: SETUP_PARTIES }, () => parties(pair, now, pq));
  let next = 0;
  for (let i = 0; i < 20; i++) {
    const p = prepared[next++ % prepared.length]!;
    establish(p.alice, p.bob, body, now); // warm up (JIT)
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let w = 0; w < windows; w++) {
    const deadline = performance.now() + windowMs;
    const times: number[] = [];
    const c0 = cpuMs();
    while (performance.now() < deadline || times.length < 3) {
      const p = prepared[next++ % prepared.length]!;
      const t0 = performance.now();
      establish(p.alice, p.bob, body, now);
      times.push(performance.now() - t0);
    }
    wall.push(median(times));
    cpu.push((cpuMs() - c0) / times.length);
  }
  return { wall, cpu };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (x: number, digits = 0): number => Number(x.toFixed(digits));

function measure(pair: Pair) {
  const now = Date.now();
  const body = pair[0].randomBytes(PAYLOAD_BYTES);
  const setups = setupTimes(pair, now, body);
  const x3dhSetups = setupTimes(pair, now, body, false);
  const sizes = parties(pair, now);
  const x3dhSizes = parties(pair, now, false);
  const firstMessageBytes = establish(sizes.alice, sizes.bob, body, now).firstBytes;
  const x3dhFirstMessageBytes = establish(x3dhSizes.alice, x3dhSizes.bob, body, now).firstBytes;

  const p1 = parties(pair, now);
  const oneWay = establish(p1.alice, p1.bob, body, now);
  // Bob replies once so Alice's later messages are plain session envelopes (no handshake attached).
  message(oneWay.b, oneWay.a, body, now);
  const oneWayRates = rates(() => message(oneWay.a, oneWay.b, body, now));

  const p2 = parties(pair, now);
  const pingPong = establish(p2.alice, p2.bob, body, now);
  message(pingPong.b, pingPong.a, body, now);
  const pingPongRates = rates((i) => (i % 2 === 0 ? message(pingPong.a, pingPong.b, body, now) : message(pingPong.b, pingPong.a, body, now)));

  const acc: Record<string, number> = {};
  const breakdownRuns = 2000;
  for (let i = 0; i < breakdownRuns; i++) timedMessage(oneWay.a, oneWay.b, body, now, acc);
  const perMessage = Object.fromEntries(Object.entries(acc).map(([k, v]) => [k, round(v / breakdownRuns, 1)]));

  const ow = oneWayRates.wall;
  const pp = pingPongRates.wall;
  const su = setups.wall;
  return {
    one_way_msgs_per_s: round(median(ow)),
    ping_pong_msgs_per_s: round(median(pp)),
    session_setup_ms: round(median(su), 3),
    pq_session_setup_ms: round(median(su), 3),
    x3dh_session_setup_ms: round(median(x3dhSetups.wall), 3),
    bundle_bytes: sizes.bob.bundle.length,
    x3dh_bundle_bytes: x3dhSizes.bob.bundle.length,
    first_message_bytes: firstMessageBytes,
    x3dh_first_message_bytes: x3dhFirstMessageBytes,
    best: {
      one_way_msgs_per_s: round(Math.max(...ow)),
      ping_pong_msgs_per_s: round(Math.max(...pp)),
      session_setup_ms: round(Math.min(...su), 3),
      pq_session_setup_ms: round(Math.min(...su), 3),
      x3dh_session_setup_ms: round(Math.min(...x3dhSetups.wall), 3),
    },
    spread: {
      one_way: round(Math.min(...ow) / Math.max(...ow), 2),
      ping_pong: round(Math.min(...pp) / Math.max(...pp), 2),
      setup: round(Math.min(...su) / Math.max(...su), 2),
    },
    cpu_time: {
      one_way_msgs_per_cpu_s: round(median(oneWayRates.cpu)),
      ping_pong_msgs_per_cpu_s: round(median(pingPongRates.cpu)),
      session_setup_cpu_ms: round(median(setups.cpu), 3),
      pq_session_setup_cpu_ms: round(median(setups.cpu), 3),
      x3dh_session_setup_cpu_ms: round(median(x3dhSetups.cpu), 3),
      best: {
        one_way_msgs_per_cpu_s: round(Math.max(...oneWayRates.cpu)),
        ping_pong_msgs_per_cpu_s: round(Math.max(...pingPongRates.cpu)),
        session_setup_cpu_ms: round(Math.min(...setups.cpu), 3),
      },
    },
    per_message_us: perMessage,
  };
}

const meta = { payload_bytes: PAYLOAD_BYTES, windows, window_ms: round(windowMs), cores: availableParallelism(), load_avg: round(loadavg()[0]!, 2) };
const wantDefault = values.backend !== 'wasm';
const wantWasm = values.backend !== 'default';
let line: Record<string, unknown> = { ...meta };
let defaultFigures: ReturnType<typeof measure> | null = null;
if (wantDefault) {
  const { crypto, backend } = await loadCrypto();
  defaultFigures = measure([crypto, (await loadCrypto()).crypto]);
  line = { ...defaultFigures, ...meta, crypto: backend };
}
if (wantWasm) {
  // When sodium-native does not load, the default build is the WASM one: measured once.
  const wasm = { ...(line.crypto === 'wasm' && defaultFigures !== null ? defaultFigures : measure([await createSodiumCrypto(), await createSodiumCrypto()])), crypto: 'wasm' };
  line = wantDefault ? { ...line, wasm } : { ...wasm, ...meta };
}
process.stdout.write(JSON.stringify(line) + '\n');
