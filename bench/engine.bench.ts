/**
 * npm run bench:engine — the daemon engine alone: two daemons in one process, each on its own
 * LevelDB store (temp dirs) and the native crypto, joined by the in-process fake relay (no MQTT, no
 * gRPC). Alice sends with 100 messages in flight through the engine's Send; bob's subscriber acks in
 * batches of 50, like the e2e benchmark's bot. Prints one JSON line:
 *   engine_msgs_per_s_w100   messages per second, send to bob's Receive event
 *   engine_cpu_us_per_msg    CPU time (user + system, both daemons, this process) per message
 * What this leaves out is what bench:e2e adds on top: gRPC on both ends, MQTT and the broker.
 * Options: --messages N (default 20000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadCrypto } from '../crypto/index.ts';
import { createDaemon, type Daemon } from '../daemon/engine/daemon.ts';
import { createFakeRelayHub } from '../daemon/relay/fake-relay.ts';
import { openDataDirStore } from '../daemon/store/open-store.ts';
import type { UserId } from '../core/user-id.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '20000' } } });
const messages = Number(values.messages);
if (!(messages >= 100)) {
  process.stderr.write('bench:engine: --messages must be ≥ 100\n');
  process.exit(2);
}
const WINDOW = 100;
const ACK_BATCH = 50;

const root = await mkdtemp(join(tmpdir(), 'ratchetd-bench-engine-'));
const { crypto } = await loadCrypto();
const hub = createFakeRelayHub();
const logger = pino({ level: 'silent' });
const daemons: Daemon[] = [];

async function start(name: string): Promise<{ daemon: Daemon; userId: UserId }> {
  const dataDir = join(root, name);
  const daemon = createDaemon({
    dataDir,
    brokerUrl: 'fake://relay',
    logger,
    crypto,
    openStore: (c) => openDataDirStore({ dataDir, crypto: c }),
    relay: (id) => hub.transport(id),
  });
  daemons.push(daemon);
  const { userId } = await daemon.start();
  return { daemon, userId };
}

try {
  const alice = await start('alice');
  const bob = await start('bob');
  let received = 0;
  let wake: (() => void) | null = null;
  const pendingAcks: string[] = [];
  await bob.daemon.backend.subscribe(0, (e) => {
    if (e.kind !== 'message') return;
    received++;
    pendingAcks.push(e.message.messageId);
    if (pendingAcks.length >= ACK_BATCH) void bob.daemon.backend.ack(pendingAcks.splice(0));
    wake?.();
  });
  const body = new Uint8Array(256).fill(46);
  const run = async (total: number): Promise<number> => {
    const base = received;
    let sent = 0;
    const t0 = performance.now();
    while (received - base < total) {
      while (sent < total && sent - (received - base) < WINDOW) {
        sent++;
        alice.daemon.backend.send({ to: bob.userId, body, contentType: 'application/octet-stream' }).catch((err: unknown) => {
          process.stderr.write(`send failed: ${String(err)}\n`);
          process.exit(1);
        });
      }
      await new Promise<void>((r) => (wake = r));
    }
    return performance.now() - t0;
  };
  await run(500); // warm: session set up, JIT
  const c0 = process.cpuUsage();
  const ms = await run(messages);
  const cpu = process.cpuUsage(c0);
  process.stdout.write(
    JSON.stringify({
      engine_msgs_per_s_w100: Math.round((messages / ms) * 1000),
      engine_cpu_us_per_msg: Math.round((cpu.user + cpu.system) / messages),
      messages,
    }) + '\n',
  );
} finally {
  for (const d of daemons) await d.close();
  await rm(root, { recursive: true, force: true });
}
