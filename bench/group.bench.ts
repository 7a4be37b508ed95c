/**
 * npm run bench:group — groups through the daemon engine, in-process: a sending daemon and one
 * receiving daemon (each on an in-memory store, the native crypto) joined by the in-process fake
 * relay, plus N − 2 members that exist only as published bundles (their queues fill, nobody reads
 * them). No gRPC, no MQTT. For groups of 10, 100 and 1,000 members it prints one JSON line:
 *   sender_cpu_us_per_msg                  CPU (this process) per group Send in steady state: one
 *                                          encryption and signature, N − 1 copies, the batch, the publishes
 *   pairwise_fanout_sender_cpu_us_per_msg  CPU per message sent instead as N − 1 direct Sends
 *   member_recv_cpu_us_per_msg             CPU per group message the real member receives (its
 *                                          queue drained while the sender is idle)
 *   rotation_ms_1000                       after a removal at 1,000: wall time from the Send to the
 *                                          last of the 998 pairwise key bundles published
 *   e2e_p50_ms_100                         wall time from Send to the member's Receive event, 100 members
 * CPU is process.cpuUsage (user + system, all threads) around the whole measured window. The
 * outbox's retransmissions and lost-handshake checks are pushed past the run (the bundle-only
 * members never answer; their retransmissions are not the cost of a group message).
 */
import { loadavg } from 'node:os';
import pino from 'pino';
import { loadCrypto } from '../crypto/index.ts';
import { buildBundle, createIdentity, createPrekeyState } from '../core/index.ts';
import type { UserId } from '../core/user-id.ts';
import { createDaemon, type Daemon } from '../daemon/engine/daemon.ts';
import type { DaemonEvent } from '../daemon/engine/types.ts';
import { createFakeRelayHub } from '../daemon/relay/fake-relay.ts';
import { DEFAULT_OUTBOX_POLICY } from '../daemon/engine/outbox.ts';
import { createMemoryBackend } from '../daemon/store/memory-backend.ts';
import { openMemoryStore } from '../daemon/store/open-store.ts';

const SIZES = [10, 100, 1000] as const;
const BODY = new Uint8Array(200).fill(0x61);
const logger = pino({ level: 'silent' });
const { crypto, backend: cryptoBackend } = await loadCrypto();
const load = loadavg()[0]!;

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Party {
  daemon: Daemon;
  userId: UserId;
  events: DaemonEvent[];
}

const hub = createFakeRelayHub();
const running: Daemon[] = [];

async function startParty(receiptDelayMs: number): Promise<Party> {
  const storeKey = crypto.randomBytes(32);
  const mem = createMemoryBackend();
  const daemon = createDaemon({
    dataDir: '/nonexistent-bench-dir',
    brokerUrl: 'fake://relay',
    logger,
    crypto,
    openStore: (c) => openMemoryStore(c, storeKey, mem.reopen()),
    relay: (id) => hub.transport(id),
    // the N − 2 bundle-only members never answer: no retransmissions or lost-handshake checks for
    // them during the run (they would be background work of a real sender with N dead members)
    timing: { receiptDelayMs, connectWaitMs: 1000, handshakeAnswerWaitMs: 3_600_000, outbox: { ...DEFAULT_OUTBOX_POLICY, retryInitialMs: 3_600_000, retryMaxMs: 3_600_000 } },
  });
  running.push(daemon);
  const { userId } = await daemon.start();
  const events: DaemonEvent[] = [];
  await daemon.backend.subscribe(0, (e) => events.push(e));
  return { daemon, userId, events };
}

/** A member that is only a published bundle. */
function bundleOnly(now: number): UserId {
  const id = createIdentity(crypto);
  hub.retained.set(id.userId, buildBundle(crypto, id, createPrekeyState(crypto, now), now).bundle);
  return id.userId;
}

async function until(cond: () => boolean, what: string, deadlineMs = 300_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench:group: timed out waiting for ${what}`);
    await tick();
  }
}

const groupMessages = (p: Party, groupId: string): number => p.events.filter((e) => e.kind === 'message' && e.message.groupId === groupId).length;
const applied = (p: Party, groupId: string, version: number): boolean => p.events.some((e) => e.kind === 'groupChanged' && e.group.groupId === groupId && e.group.version >= version);

const sender: Record<string, number> = {};
const fanout: Record<string, number> = {};
const recv: Record<string, number> = {};
let rotationMs = 0;
let e2eP50 = 0;

try {
  for (const n of SIZES) {
    const s = await startParty(1);
    const m = await startParty(600_000); // no receipts during the receive window
    const now = Date.now();
    const others = Array.from({ length: n - 2 }, () => bundleOnly(now));
    const group = await s.daemon.backend.createGroup(`bench ${n}`, [m.userId, ...others]);
    await until(() => applied(m, group.groupId, 1), 'the member applies the group');
    // the first message bundles the key pairwise to everyone (N − 1 session set-ups)
    await s.daemon.backend.send({ groupId: group.groupId, body: BODY });
    await until(() => groupMessages(m, group.groupId) === 1, 'the first message');

    // sender: the member offline, K group sends (copies only)
    const k = n === 1000 ? 50 : 100;
    hub.disconnect(m.userId);
    let t = cpuUs();
    const before = hub.published.length;
    for (let i = 0; i < k; i++) await s.daemon.backend.send({ groupId: group.groupId, body: BODY });
    await until(() => hub.published.length >= before + k * (n - 1), 'every copy published');
    sender[n] = Math.round((cpuUs() - t) / k);

    // the member: back online, drains its queue while the sender is idle
    t = cpuUs();
    hub.reconnect(m.userId);
    await until(() => groupMessages(m, group.groupId) >= 1 + k, 'the member receives every group message');
    recv[n] = Math.round((cpuUs() - t) / k);

    if (n === 100) {
      const lat: number[] = [];
      for (let i = 0; i < 50; i++) {
        const have = groupMessages(m, group.groupId);
        const t0 = performance.now();
        await s.daemon.backend.send({ groupId: group.groupId, body: BODY });
        await until(() => groupMessages(m, group.groupId) > have, 'the e2e message');
        lat.push(performance.now() - t0);
      }
      lat.sort((a, b) => a - b);
      e2eP50 = Math.round(lat[Math.floor(lat.length / 2)]! * 10) / 10;
    }

    // the same message as N − 1 direct Sends (sessions exist from the distribution); member offline
    hub.disconnect(m.userId);
    const kf = Math.max(3, Math.round(300 / n));
    const members = [m.userId, ...others];
    t = cpuUs();
    for (let i = 0; i < kf; i++) await Promise.all(members.map((to) => s.daemon.backend.send({ to, body: BODY })));
    fanout[n] = Math.round((cpuUs() - t) / kf);
    hub.reconnect(m.userId);

    if (n === 1000) {
      const mark = hub.published.length;
      const changed = await s.daemon.backend.removeMembers(group.groupId, [others[0]!]);
      await until(() => hub.published.length >= mark + (n - 1), 'the version reaches every member');
      await until(() => applied(m, group.groupId, changed.version), 'the member applies the removal');
      const start = hub.published.length;
      const t0 = performance.now();
      await s.daemon.backend.send({ groupId: group.groupId, body: BODY });
      // the new key bundled with the message, pairwise, to each of the n − 2 remaining members
      await until(() => hub.published.length >= start + (n - 2), 'the re-keyed message reaches every member');
      rotationMs = Math.round(performance.now() - t0);
    }
    for (const d of running.splice(0)) await d.close();
  }
  const out = {
    bench: 'group',
    how: 'in-process engines (memory stores, fake relay); one real member, the others bundles only',
    crypto: cryptoBackend,
    body_bytes: BODY.length,
    sender_cpu_us_per_msg: sender,
    pairwise_fanout_sender_cpu_us_per_msg: fanout,
    member_recv_cpu_us_per_msg: recv,
    sender_vs_pairwise_100: Math.round((sender[100]! / fanout[100]!) * 1000) / 1000,
    recv_rate_1000_vs_10: Math.round((recv[10]! / recv[1000]!) * 100) / 100,
    rotation_ms_1000: rotationMs,
    e2e_p50_ms_100: e2eP50,
    load_avg: Math.round(load * 100) / 100,
  };
  console.log(JSON.stringify(out));
} finally {
  for (const d of running.splice(0)) await d.close();
}
