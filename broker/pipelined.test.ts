/**
 * aedes#955: with aedes-persistence-level, pipelined QoS 1 publishes complete their enqueue out of
 * order and Aedes' per-client dedupe withholds the overtaken ones from live delivery. First shown on
 * stock Aedes, then the same load through createBroker, where all of them must arrive live — and in
 * publish order (ordered-update.ts: without it 100–150 of 500 arrived out of order, none lost).
 */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import createLevelPersistence from 'aedes-persistence-level';
import { Level } from 'level';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../core/crypto.ts';
import { createBroker } from './broker.ts';
import { bundleTopic, connectAs, end, inboxTopic, newIdentity, tempDir, until } from './test-support.ts';

const N = 500;
let crypto: Crypto;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** One round on stock Aedes + level: how many of N pipelined messages reached a live subscriber. */
async function stockRound(): Promise<number> {
  const tmp = await tempDir('aedes955');
  const db = new Level<string, string>(tmp.dir);
  await db.open();
  const persistence = createLevelPersistence(db) as { destroy(): Promise<void> };
  const aedes = await Aedes.createBroker({ persistence });
  const server = net.createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const clients: MqttClient[] = [];
  try {
    const sub = await mqtt.connectAsync(url, { clientId: 'sub', clean: false, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(sub);
    await sub.subscribeAsync('t/live', { qos: 1 });
    const got = new Set<string>();
    sub.on('message', (_t, p) => got.add(p.toString()));
    let routed = 0; // 'publish' fires after a packet's live delivery attempts are done
    aedes.on('publish', (packet) => {
      if (packet.topic === 't/live') routed++;
    });
    const pub = await mqtt.connectAsync(url, { clientId: 'pub', clean: true, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(pub);
    await Promise.all(Array.from({ length: N }, (_, i) => pub.publishAsync('t/live', `m${i}`, { qos: 1 })));
    await until(() => routed >= N);
    // A marker from the broker itself gets the highest counter, so it is never withheld; once the
    // subscriber has it, everything written to it before has arrived.
    aedes.publish({ cmd: 'publish', topic: 't/live', payload: Buffer.from('marker'), qos: 1, retain: false, dup: false }, () => undefined);
    await until(() => got.has('marker'));
    return got.size - 1;
  } finally {
    await end(...clients);
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await persistence.destroy();
    await tmp.remove();
  }
}

describe('aedes#955 (pipelined QoS 1 with LevelDB persistence)', () => {
  it('stock Aedes withholds some pipelined messages from a live subscriber', async () => {
    // Seen in every round measured (2–14% withheld at 500 in flight); up to 5 rounds absorb a lucky one.
    const delivered: number[] = [];
    for (let round = 0; round < 5; round++) {
      delivered.push(await stockRound());
      if (delivered[delivered.length - 1] !== N) break;
    }
    expect(Math.min(...delivered), `live deliveries per round: ${delivered.join(', ')}`).toBeLessThan(N);
  });

  it('createBroker delivers all 500 pipelined messages live, in order, without a reconnect', async () => {
    const tmp = await tempDir('pipelined');
    const broker = createBroker({ dataDir: tmp.dir, crypto });
    cleanups.push(tmp.remove, () => broker.close());
    const { url } = await broker.start();
    const alice = newIdentity(crypto);
    const bob = newIdentity(crypto);
    const got: string[] = [];
    let bundles = 0;
    const b = await connectAs(url, crypto, bob, {
      onMessage: (topic, p) => (topic === bundleTopic(alice.userId) ? bundles++ : got.push(p.toString())),
    });
    let connects = 0;
    b.on('connect', () => connects++);
    cleanups.push(() => end(b));
    await b.subscribeAsync([inboxTopic(bob.userId), bundleTopic(alice.userId)], { qos: 1 });
    const a = await connectAs(url, crypto, alice);
    cleanups.push(() => end(a));
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < N; i++) {
      sends.push(a.publishAsync(inboxTopic(bob.userId), `m${i}`, { qos: 1 }));
      // A retained bundle in the middle: stored before it is enqueued, so it must not be overtaken either.
      if (i === N / 2) sends.push(a.publishAsync(bundleTopic(alice.userId), 'bundle', { qos: 1, retain: true }));
    }
    await Promise.all(sends);
    await until(() => got.length >= N && bundles >= 1);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
    expect(bundles).toBe(1);
    expect(connects).toBe(0);
  });
});
