/**
 * npm run bench:protocol — the protocol core's speed, as a daemon that persists every message uses it.
 * One message = encrypt, serialise the sender's peer record, deserialise the receiver's record,
 * decode the envelope, decrypt, serialise the receiver's record. Ping-pong alternates direction, so
 * every message is a DH ratchet step. Setup = verify a ready-made bundle, X3DH on both sides and the
 * first message (bundle creation not counted). Prints one JSON line (the default libsodium build,
 * as the daemon picks it) plus the same figures for the WASM build under "wasm".
 *   --seconds N   time per measurement (default 2)
 */
import { parseArgs } from 'node:util';
import { loadCrypto } from '../crypto/index.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../protocol/crypto.ts';
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
  type PeerRecord,
} from '../protocol/index.ts';

const PAYLOAD_BYTES = 256;
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const seconds = Number(values.seconds);
if (!(seconds > 0)) {
  process.stderr.write('bench:protocol: --seconds must be a positive number\n');
  process.exit(2);
}

interface Side {
  own: LocalIdentity;
  record: Uint8Array; // the stored peer record, as a daemon keeps it between messages
}

function establish(crypto: Crypto, now: number): { a: Side; b: Side; setupMs: number } {
  const alice = createIdentity(crypto);
  const bob = createIdentity(crypto);
  const { bundle, next: bobPrekeys } = buildBundle(crypto, bob, createPrekeyState(crypto, now), now);
  const t0 = performance.now();
  const verified = verifyBundle(crypto, bundle, bob.userId, now);
  const started = startSession(crypto, alice, null, verified, now);
  const first = encryptForPeer(crypto, alice, started, { kind: 'message', body: new Uint8Array(PAYLOAD_BYTES), contentType: 'application/octet-stream' }, now);
  const env = decodeEnvelope(first.envelope);
  if (env.kind !== 'handshake') throw new Error('first envelope must be a handshake');
  const sender = unsealSender(crypto, bob, env);
  const accepted = acceptHandshake(crypto, bob, bobPrekeys, null, env, sender, now, () => false);
  const a = { own: alice, record: encodePeerRecord(first.next) };
  const b = { own: bob, record: encodePeerRecord(accepted.next) };
  const setupMs = performance.now() - t0;
  return { a, b, setupMs };
}

function message(crypto: Crypto, from: Side, to: Side, body: Uint8Array, now: number): void {
  const sender: PeerRecord = decodePeerRecord(from.record);
  const sent = encryptForPeer(crypto, from.own, sender, { kind: 'message', body, contentType: 'application/octet-stream' }, now);
  from.record = encodePeerRecord(sent.next);
  const receiver = decodePeerRecord(to.record);
  const env = decodeEnvelope(sent.envelope);
  if (env.kind !== 'session') throw new Error('after the first reply every envelope is a session envelope');
  to.record = encodePeerRecord(decryptFromPeer(crypto, receiver, env, now).next);
}

function rate(run: (i: number) => void): number {
  for (let i = 0; i < 200; i++) run(i); // warm up
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let n = 0;
  while (performance.now() < deadline) {
    for (let k = 0; k < 50; k++) run(n++);
  }
  return Math.round((n * 1000) / (performance.now() - t0));
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

function measure(crypto: Crypto) {
  const now = Date.now();
  const setups: number[] = [];
  for (let i = 0; i < 60; i++) setups.push(establish(crypto, now).setupMs);
  const body = crypto.randomBytes(PAYLOAD_BYTES);
  // Bob replies once so Alice's later messages are plain session envelopes (no handshake attached).
  const oneWay = establish(crypto, now);
  message(crypto, oneWay.b, oneWay.a, body, now);
  const oneWayRate = rate(() => message(crypto, oneWay.a, oneWay.b, body, now));
  const pingPong = establish(crypto, now);
  message(crypto, pingPong.b, pingPong.a, body, now);
  const pingPongRate = rate((i) => (i % 2 === 0 ? message(crypto, pingPong.a, pingPong.b, body, now) : message(crypto, pingPong.b, pingPong.a, body, now)));
  return {
    one_way_msgs_per_s: oneWayRate,
    ping_pong_msgs_per_s: pingPongRate,
    session_setup_ms: Number(median(setups.slice(10)).toFixed(3)),
  };
}

const { crypto, backend } = await loadCrypto();
const main = measure(crypto);
const wasm = backend === 'wasm' ? main : measure(await createSodiumCrypto());
process.stdout.write(
  JSON.stringify({ ...main, payload_bytes: PAYLOAD_BYTES, crypto: backend, wasm: { ...wasm, crypto: 'wasm' } }) + '\n',
);
