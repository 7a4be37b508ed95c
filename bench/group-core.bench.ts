/**
 * npx tsx bench/group-core.bench.ts — the groups protocol core's cost, in-process (no store, no relay):
 *   sender_us_per_msg          planGroupSend in steady state (every member holds the key): one
 *                              encryption and one signature, one wrapped copy per member, plus
 *                              encoding the stepped sender key (what a daemon stores per message)
 *   member_recv_us_per_msg     one member receiving one copy: decode the envelope and its sender-chains
 *                              record, open, verify, decrypt, record the seq, encode the record again
 *   pairwise_fanout_us_per_msg_estimated  N − 1 × the measured encryptForPeer of one pairwise message
 *                              (a steady session, no DH step: the cheapest case of N Sends)
 *   rotation_core_ms_1000      the first message after a removal at 1,000 members: a new key and 999
 *                              distributions bundled with the message (the planner only; each bundle
 *                              then costs one pairwise encryption: rotation_pairwise_ms_1000_estimated)
 *   apply_membership_us_1000   a member verifying and applying a 1,000-member version
 * Each figure is CPU time of this process (process.cpuUsage: user + system, every thread, GC
 * included), the median of 5 windows: on a shared machine the wall clock swings with other jobs, CPU
 * time far less. `load_avg` is the 1-minute load average at the start. Prints one JSON line.
 *   RATCHETD_BENCH_CRYPTO=wasm  use the WASM build (default: what the daemon picks)
 */
import { loadavg } from 'node:os';
import { loadCrypto } from '../crypto/index.ts';
import type { Crypto } from '../core/crypto.ts';
import {
  acceptHandshake,
  buildBundle,
  createIdentity,
  createPrekeyState,
  decodeEnvelope,
  decryptFromPeer,
  encryptForPeer,
  startSession,
  unsealSender,
  verifyBundle,
  type LocalIdentity,
  type PeerRecord,
} from '../core/index.ts';
import { decodeGroupEnvelope } from '../core/envelope.ts';
import { createMembership, changeMembership } from '../core/group/membership.ts';
import { applyMembership, ownView, type GroupView } from '../core/group/view.ts';
import { planGroupSend } from '../core/group/send.ts';
import { encodeOwnSenderKey, type OwnSenderKey } from '../core/group/sender-key.ts';
import { acceptDistribution, decodeSenderChains, encodeSenderChains } from '../core/group/receiver-chain.ts';
import { receiveCopy } from '../core/group/receive.ts';
import { recordSeq, startSeqLog } from '../core/group/seq-log.ts';
import type { MemberDelivery } from '../core/group/delivery.ts';
import { userIdFromBytes } from '../core/group/ids.ts';
import type { UserId } from '../core/user-id.ts';

const SIZES = [10, 100, 1000] as const;
let groupMessageBytes = 0;
/** 200 bytes: with the group plaintext's fields it pads to the 512-byte bucket (group message 625 B). */
const BODY = new Uint8Array(200).fill(0x61);
const CONTENT_TYPE = 'text/plain';
const WINDOWS = 5;
/** Copies received per window (6 windows of them stay below the 10,000-message rotation). */
const RECV_PER_WINDOW = 1000;
const T0 = Date.now();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU time of this process (user + system, all threads) in µs: less disturbed by other jobs than the wall clock. */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per call of `f`, median of WINDOWS windows of `n` calls each (after one warm-up window). */
function measure(n: number, f: () => void): number {
  const windows: number[] = [];
  for (let w = 0; w <= WINDOWS; w++) {
    const t = cpuUs();
    for (let i = 0; i < n; i++) f();
    if (w > 0) windows.push((cpuUs() - t) / n);
  }
  return Math.round(median(windows) * 10) / 10;
}

interface Group {
  owner: LocalIdentity;
  member: LocalIdentity;
  ownerView: GroupView;
  memberView: GroupView;
  key: OwnSenderKey;
  delivery: Map<UserId, MemberDelivery>;
  chainsRecord: Uint8Array;
  copyForMember: Uint8Array[];
}

function group(crypto: Crypto, n: number): Group {
  const owner = createIdentity(crypto);
  const member = createIdentity(crypto);
  const others = Array.from({ length: n - 2 }, () => userIdFromBytes(crypto.randomBytes(20)));
  const m = createMembership(crypto, owner, 'bench', [member.userId, ...others], T0);
  const ownerView = ownView(m, null);
  const memberView = applyMembership(crypto, null, m.bytes, owner.userId, member.userId).view!;
  // the first message distributes the key to everyone (pairwise); from then on, copies
  const first = planGroupSend(crypto, { self: owner.userId, view: ownerView, senderKey: null, delivery: new Map(), input: { body: BODY, contentType: CONTENT_TYPE }, now: T0 });
  const bundled = first.outputs.find((o) => o.to === member.userId)!.pairwise[0]!;
  if (bundled.kind !== 'group-message' || bundled.mode !== 'sealed' || bundled.distribution === null) throw new Error('expected a bundled key');
  const chains = acceptDistribution(crypto, memberView, member.userId, owner.userId, null, bundled.distribution, T0).next;
  return { owner, member, ownerView, memberView, key: first.senderKey, delivery: new Map(first.deliveryChanges), chainsRecord: encodeSenderChains(chains), copyForMember: [] };
}

function send(crypto: Crypto, g: Group): { copies: number } {
  const plan = planGroupSend(crypto, { self: g.owner.userId, view: g.ownerView, senderKey: g.key, delivery: g.delivery, input: { body: BODY, contentType: CONTENT_TYPE }, now: T0 });
  g.key = plan.senderKey;
  encodeOwnSenderKey(g.key);
  groupMessageBytes = plan.message.length;
  const mine = plan.outputs.find((o) => o.to === g.member.userId)!.copy;
  if (mine === null) return { copies: 0 };
  g.copyForMember.push(mine);
  return { copies: plan.outputs.length };
}

/** One pairwise message on a steady session (alice → bob, no reply: no DH step). */
function pairwiseCost(crypto: Crypto): number {
  const alice = createIdentity(crypto);
  const bob = createIdentity(crypto);
  const { bundle, next: prekeys } = buildBundle(crypto, bob, createPrekeyState(crypto, T0), T0);
  const started = startSession(crypto, alice, null, verifyBundle(crypto, bundle, bob.userId, T0), T0);
  const first = encryptForPeer(crypto, alice, started, { kind: 'message', body: BODY, contentType: CONTENT_TYPE }, T0);
  const env = decodeEnvelope(first.envelope);
  if (env.kind !== 'handshake') throw new Error('expected a handshake');
  const accepted = acceptHandshake(crypto, bob, prekeys, null, env, unsealSender(crypto, bob, env), T0, () => false);
  const reply = encryptForPeer(crypto, bob, accepted.next, { kind: 'message', body: BODY, contentType: CONTENT_TYPE }, T0);
  const replyEnv = decodeEnvelope(reply.envelope);
  if (replyEnv.kind !== 'session') throw new Error('expected a session envelope');
  let record: PeerRecord = decryptFromPeer(crypto, first.next, replyEnv, T0).next;
  return measure(2000, () => {
    record = encryptForPeer(crypto, alice, record, { kind: 'message', body: BODY, contentType: CONTENT_TYPE }, T0).next;
  });
}

const { crypto, backend } = await loadCrypto(process.env.RATCHETD_BENCH_CRYPTO === 'wasm' ? 'wasm' : 'auto');
const load = loadavg()[0]!;
const out: Record<string, unknown> = { bench: 'group-core', crypto: backend, body_bytes: BODY.length };
const senderUs: Record<string, number> = {};
const recvUs: Record<string, number> = {};
const fanoutUs: Record<string, number> = {};
const pairwiseUs = pairwiseCost(crypto);
const groups = new Map<number, Group>();
for (const n of SIZES) {
  const g = group(crypto, n);
  groups.set(n, g);
  const iterations = Math.max(20, Math.round(4000 / n));
  send(crypto, g); // warm the copy-key cache
  senderUs[n] = measure(iterations, () => send(crypto, g));
  // copies for the receive windows (the key rotates at SENDER_KEY_MAX_MESSAGES: stay below it)
  while (g.copyForMember.length < (WINDOWS + 1) * RECV_PER_WINDOW) if (send(crypto, g).copies === 0) throw new Error('no copy');
  fanoutUs[n] = Math.round(pairwiseUs * (n - 1));
}
// receiving, once every copy exists (so no figure pays for another's garbage), largest group first
for (const n of [...SIZES].reverse()) {
  const g = groups.get(n)!;
  const copies = g.copyForMember.splice(0);
  let record = g.chainsRecord;
  let log = startSeqLog(2);
  let i = 0;
  recvUs[n] = measure(RECV_PER_WINDOW, () => {
    const chains = decodeSenderChains(record);
    const r = receiveCopy(crypto, g.memberView, chains, decodeGroupEnvelope(copies[i++]!), T0);
    log = recordSeq(log, r.plaintext.senderSeq).next;
    record = encodeSenderChains(r.next);
  });
  if (n === 1000) out.copy_envelope_bytes = copies[0]!.length;
}

const big = group(crypto, 1000);
const removed = ownView(changeMembership(crypto, big.owner, big.ownerView, { remove: [big.ownerView.members.find((m) => m !== big.owner.userId && m !== big.member.userId)!] }, T0)!, big.ownerView);
const rotationMs = measure(3, () => {
  const plan = planGroupSend(crypto, { self: big.owner.userId, view: removed, senderKey: big.key, delivery: big.delivery, input: { body: BODY, contentType: CONTENT_TYPE }, now: T0 });
  if (plan.rotated !== 'removal') throw new Error('expected a rotation');
}) / 1000;
const versionBytes = removed.bytes;
const applyUs = measure(50, () => applyMembership(crypto, big.memberView, versionBytes, big.owner.userId, big.member.userId));

Object.assign(out, {
  sender_us_per_msg: senderUs,
  sender_us_per_copy_1000: Math.round((senderUs[1000]! / 999) * 100) / 100,
  member_recv_us_per_msg: recvUs,
  pairwise_encrypt_us_per_peer: pairwiseUs,
  pairwise_fanout_us_per_msg_estimated: fanoutUs,
  sender_vs_pairwise_100: Math.round((senderUs[100]! / fanoutUs[100]!) * 1000) / 1000,
  recv_rate_1000_vs_10: Math.round((recvUs[10]! / recvUs[1000]!) * 100) / 100,
  rotation_core_ms_1000: Math.round(rotationMs * 10) / 10,
  rotation_pairwise_ms_1000_estimated: Math.round(rotationMs + (pairwiseUs * 999) / 1000),
  apply_membership_us_1000: applyUs,
  group_message_bytes: groupMessageBytes,
  load_avg: Math.round(load * 100) / 100,
});
console.log(JSON.stringify(out));
