/**
 * The relays `npm run bench:relay` measures, each started fresh in a temp dir and torn down after:
 *   aedes-memory   createBroker, in-memory persistence, in the bench process ("embedded")
 *   aedes-level    createBroker, LevelDB persistence, in the bench process
 *   aedes-redis-2  two `ratchetd broker` node processes on one redis-server (AOF on); the sender
 *                  uses node A, the receiver node B, so every message crosses Redis
 *   mosquitto      stock Mosquitto from broker/mosquitto/ratchetd-loopback.conf (anonymous)
 *   nats-3         three nats-server nodes, MQTT on JetStream with stream_replicas 3, rendered from
 *                  broker/nats/ (anonymous: no users file, like the Mosquitto row); the sender uses
 *                  node 1, the receiver node 2, so every message is replicated by Raft and crosses a route
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Crypto } from '../core/crypto.ts';
import { createBroker } from '../broker/index.ts';
import { startBrokerProcess } from '../test/fixtures/broker-process.ts';
import { startMosquitto } from '../test/fixtures/mosquitto-process.ts';
import { startNatsCluster } from '../test/fixtures/nats-cluster.ts';
import { startRedis } from '../test/fixtures/redis-process.ts';

export const RELAY_NAMES = ['aedes-memory', 'aedes-level', 'aedes-redis-2', 'mosquitto', 'nats-3'] as const;
export type RelayName = (typeof RELAY_NAMES)[number];

export interface RelayUnderTest {
  readonly name: RelayName;
  /** Where the sender connects, and the receiver (another node in the cluster). */
  readonly senderUrl: string;
  readonly receiverUrl: string;
  /** 'proof' for ratchetd brokers, 'none' for the anonymous Mosquitto and NATS. */
  readonly auth: 'proof' | 'none';
  close(): Promise<void>;
}

async function scratch(label: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `ratchetd-bench-${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `steps` in reverse order, ignoring failures (best-effort teardown). */
async function unwind(steps: Array<() => Promise<unknown>>): Promise<void> {
  for (const step of steps.reverse()) await step().catch(() => undefined);
}

export async function startRelay(name: RelayName, crypto: Crypto): Promise<RelayUnderTest> {
  const tmp = await scratch(name);
  const teardown: Array<() => Promise<unknown>> = [tmp.remove];
  try {
    switch (name) {
      case 'aedes-memory':
      case 'aedes-level': {
        const broker = createBroker(name === 'aedes-memory' ? { persistence: 'memory', crypto } : { dataDir: tmp.dir, crypto });
        teardown.push(() => broker.close());
        const { url } = await broker.start();
        return { name, senderUrl: url, receiverUrl: url, auth: 'proof', close: () => unwind(teardown) };
      }
      case 'aedes-redis-2': {
        const redis = await startRedis(tmp.dir);
        teardown.push(() => redis.stop());
        const a = await startBrokerProcess(redis.url);
        teardown.push(() => a.stop());
        const b = await startBrokerProcess(redis.url);
        teardown.push(() => b.stop());
        return { name, senderUrl: a.url, receiverUrl: b.url, auth: 'proof', close: () => unwind(teardown) };
      }
      case 'mosquitto': {
        const m = await startMosquitto({ config: 'loopback', dir: tmp.dir });
        teardown.push(() => m.stop());
        return { name, senderUrl: m.url, receiverUrl: m.url, auth: 'none', close: () => unwind(teardown) };
      }
      case 'nats-3': {
        const c = await startNatsCluster({ dir: tmp.dir, anonymous: true });
        teardown.push(() => c.stop());
        return { name, senderUrl: c.nodes[0].url, receiverUrl: c.nodes[1].url, auth: 'none', close: () => unwind(teardown) };
      }
    }
  } catch (e) {
    await unwind(teardown);
    throw e;
  }
}
