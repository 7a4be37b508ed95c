/**
 * Canaries for the Aedes internals the broker's work-arounds rely on (issue 10 item 9). The
 * patched packages are pinned exactly in package.json; these tests check that what each patch
 * assumes still exists and behaves as assumed, so an upgrade fails here, loudly, instead of
 * silently undoing a fix. Each test names the patch it guards.
 *
 * Guarded elsewhere already: the LevelDB persistence (level-persistence.ts: aedes-persistence's
 * abstract suite in level-persistence.abstract.test.ts, the old layout in upgrade.test.ts),
 * aedes-persistence-redis' maxSessionDelivery at scale (test/relay-cluster.test.ts: a queue of
 * 1500 on one CONNECT), the frame guard cutting a huge CONNECT (broker.test.ts).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Aedes } from 'aedes';
import type { AedesOptions, Client } from 'aedes';
import * as memoryPersistence from 'aedes-persistence';
import createRedisPersistence from 'aedes-persistence-redis';
import { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis } from '../test/fixtures/redis-process.ts';

/** Packages whose internals our code patches or relies on (pinned exactly). */
export const PATCHED_PACKAGES = [
  'aedes', // connack-first.ts, ordered-enqueue.ts, message-ttl.ts, frame-guard.ts, channel-binding.ts, authorize.ts
  'aedes-persistence', // queue-quota.ts, ordered-*.ts on the in-memory persistence
  'aedes-packet', // level-persistence.ts (the stored shape of a queued packet)
  'msgpack-lite', // level-layout.ts (the records aedes-persistence-level wrote; old data dirs)
  'qlobber', // subscription-index.ts (qlobber/aedes/qlobber-sub.js, Aedes' subscription trie)
  'aedes-persistence-redis', // redis-persistence.ts (maxSessionDelivery, packetTTL), queue-quota wrappers
  'mqemitter-redis', // redis-persistence.ts (boundQuit: subConn, pubConn, state, close)
  'mqtt', // daemon/relay/ordered-acks.ts (_sendPacket), mqtt-relay.ts (handleMessage, stream builder, reconnectPeriod)
  'mqtt-packet', // daemon/relay/channel-bound-stream.ts (parse and re-encode the CONNECT)
] as const;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Deliver = (packet: unknown, cb: (err?: unknown) => void) => void;
interface ClientInternals {
  deliver0: Deliver;
  deliverQoS: Deliver;
  connackSent: boolean;
  conn: unknown;
  req?: unknown;
}
interface BrokerInternals {
  id: string;
  counter: number;
  publish(packet: { qos?: number; brokerCounter?: number }, client: unknown, done?: (err?: Error | null) => void): void;
}

async function startAedes(options: Partial<AedesOptions> = {}): Promise<{ aedes: Aedes; url: string; persistence: Record<string, (...a: never[]) => unknown> }> {
  const persistence = (memoryPersistence as unknown as { default: () => Record<string, (...a: never[]) => unknown> }).default();
  const aedes = await Aedes.createBroker({ persistence, ...options } as unknown as AedesOptions);
  const server = net.createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { aedes, url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, persistence };
}

async function client(url: string, clientId: string, clean = true): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId, clean, reconnectPeriod: 0, protocolVersion: 4 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

const clientOf = (aedes: Aedes, id: string): ClientInternals => (aedes as unknown as { clients: Record<string, ClientInternals> }).clients[id]!;

describe('pinned versions', () => {
  it('every patched package is pinned exactly in package.json, and that version is installed', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of PATCHED_PACKAGES) {
      const wanted = pkg.dependencies[name];
      expect(wanted, `${name} in dependencies`).toMatch(/^\d+\.\d+\.\d+$/);
      const installed = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string };
      expect(installed.version, name).toBe(wanted);
    }
  });
});

describe('Aedes internals', () => {
  it('connack-first.ts: deliveries go through the per-client deliver0/deliverQoS, connackSent and the connackSent event mark the CONNACK', async () => {
    const { aedes, url } = await startAedes();
    const acked: string[] = [];
    aedes.on('connackSent', (_packet, c: Client) => acked.push(c.id));
    // As connack-first.ts does: wrap the functions on each client right after aedes.handle made it.
    const calls: string[] = [];
    const handle = aedes.handle.bind(aedes);
    aedes.handle = (stream, req) => {
      const created = handle(stream, req);
      const c = created as unknown as ClientInternals;
      for (const name of ['deliver0', 'deliverQoS'] as const) {
        const original = c[name];
        expect(typeof original).toBe('function');
        c[name] = (packet, cb) => (calls.push(name), original(packet, cb));
      }
      return created;
    };
    const bob = await client(url, 'bob');
    await bob.subscribeAsync('t', { qos: 1 });
    expect(clientOf(aedes, 'bob').connackSent).toBe(true);
    expect(acked).toEqual(['bob']);
    const got = new Promise<string>((resolve) => bob.once('message', (_t, p) => resolve(p.toString())));
    const alice = await client(url, 'alice');
    await alice.publishAsync('t', 'x', { qos: 1 });
    expect(await got).toBe('x');
    expect(calls).toContain('deliverQoS');
  });

  it('connack-first.ts and channel-binding.ts: aedes.handle(stream, req) returns the client, with conn = the stream and req = the request', async () => {
    const { aedes } = await startAedes();
    const stream = new PassThrough();
    const req = { socket: null } as unknown as IncomingMessage;
    const c = aedes.handle(stream, req) as unknown as ClientInternals;
    expect(c.conn).toBe(stream);
    expect(c.req).toBe(req);
    expect(c.connackSent).toBe(false); // nothing sent before a CONNECT
    stream.destroy();
  });

  it('ordered-enqueue.ts and message-ttl.ts: client publishes enter through broker.publish, the counter numbers them, enqueue is awaited before live delivery', async () => {
    const { aedes, url, persistence } = await startAedes();
    const b = aedes as unknown as BrokerInternals;
    expect(typeof b.id).toBe('string');
    const bob = await client(url, 'bob', false);
    await bob.subscribeAsync('t', { qos: 1 });
    const entered: number[] = [];
    const publish = b.publish.bind(aedes);
    b.publish = (packet, c, done) => ((packet.qos ?? 0) > 0 && entered.push(b.counter), publish(packet, c, done));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const enqueue = (persistence['outgoingEnqueueCombi'] as (subs: Array<{ clientId: string }>, packet: { brokerCounter: number }) => Promise<unknown>).bind(persistence);
    const enqueued: Array<{ subs: string[]; counter: number }> = [];
    persistence['outgoingEnqueueCombi'] = (async (subs: Array<{ clientId: string }>, packet: { brokerCounter: number }) => {
      enqueued.push({ subs: subs.map((s) => s.clientId), counter: packet.brokerCounter });
      await gate;
      return enqueue(subs, packet);
    }) as never;
    let delivered = false;
    bob.on('message', () => (delivered = true));
    const alice = await client(url, 'alice');
    const puback = alice.publishAsync('t', 'x', { qos: 1 });
    await new Promise<void>((resolve) => {
      const check = (): void => (enqueued.length > 0 ? resolve() : void setImmediate(check));
      check();
    });
    expect(entered).toHaveLength(1);
    expect(Number.isSafeInteger(entered[0])).toBe(true);
    expect(enqueued).toEqual([{ subs: ['bob'], counter: entered[0]! + 1 }]); // brokerCounter = ++counter at entry
    expect(b.counter).toBeGreaterThanOrEqual(entered[0]! + 1);
    expect(delivered).toBe(false); // live delivery waits for the enqueue
    release();
    await puback;
    await new Promise<void>((resolve) => (delivered ? resolve() : bob.once('message', () => resolve())));
  });

  it('ordered-update.ts: a QoS 1 packet to a persistent session is written after persistence.outgoingUpdate resolves', async () => {
    const { url, persistence } = await startAedes();
    const bob = await client(url, 'bob', false);
    await bob.subscribeAsync('t', { qos: 1 });
    const update = (persistence['outgoingUpdate'] as (c: { id: string }, p: unknown) => Promise<unknown>).bind(persistence);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const updates: string[] = [];
    persistence['outgoingUpdate'] = (async (c: { id: string }, p: unknown) => {
      updates.push(c.id);
      await gate;
      return update(c, p);
    }) as never;
    let delivered = false;
    const got = new Promise<void>((resolve) => bob.once('message', () => ((delivered = true), resolve())));
    const alice = await client(url, 'alice');
    await alice.publishAsync('t', 'x', { qos: 1 });
    while (updates.length === 0) await new Promise((r) => setImmediate(r));
    expect(updates).toEqual(['bob']);
    expect(delivered).toBe(false);
    release();
    await got;
  });

  it('queue-quota.ts: outgoingStream lists a queue, outgoingClearMessageId returns the packet it removed', async () => {
    const { url, persistence } = await startAedes();
    const bob = await client(url, 'bob', false);
    await bob.subscribeAsync('t', { qos: 1 });
    await bob.endAsync();
    const alice = await client(url, 'alice');
    for (const p of ['1', '2']) await alice.publishAsync('t', p, { qos: 1 });
    const queued: unknown[] = [];
    for await (const p of (persistence['outgoingStream'] as (c: { id: string }) => AsyncIterable<unknown>)({ id: 'bob' })) queued.push(p);
    expect(queued).toHaveLength(2);
    const clear = persistence['outgoingClearMessageId'] as (c: { id: string }, p: { messageId?: number }) => Promise<unknown>;
    const cleared: unknown[] = [];
    persistence['outgoingClearMessageId'] = (async (c: { id: string }, p: { messageId?: number }) => {
      const removed = await clear.call(persistence, c, p);
      cleared.push(removed);
      return removed;
    }) as never;
    const back = await mqtt.connectAsync(url, { clientId: 'bob', clean: false, reconnectPeriod: 0 });
    cleanups.push(() => back.endAsync(true));
    while (cleared.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(cleared.every((p) => typeof p === 'object' && p !== null && 'topic' in p)).toBe(true);
  });

  it('authorize.ts: a topic rewritten in authorizePublish is what Aedes routes, and the publish is still acknowledged', async () => {
    const { url } = await startAedes({
      authorizePublish: (_c, packet, done) => {
        if (packet.topic === 'full') packet.topic = '$ratchetd/discarded';
        done(null);
      },
    });
    const bob = await client(url, 'bob');
    await bob.subscribeAsync('full', { qos: 1 });
    let got = false;
    bob.on('message', () => (got = true));
    const alice = await client(url, 'alice');
    await alice.publishAsync('full', 'x', { qos: 1 }); // PUBACK
    await bob.publishAsync('full-check', 'y', { qos: 1 }); // a round trip after: the rerouted one would be there by now
    expect(got).toBe(false);
  });

  it('frame-guard.ts: Aedes reads a connection with read() on "readable"', async () => {
    const { aedes } = await startAedes();
    const [left, right] = await socketPair();
    let reads = 0;
    const read = right.read.bind(right);
    right.read = (size?: number) => (reads++, read(size));
    aedes.handle(right);
    left.write(Buffer.from('101000044d5154540402003c000461626364', 'hex')); // CONNECT, client id "abcd"
    await new Promise<void>((resolve) => left.once('data', () => resolve())); // its CONNACK
    expect(reads).toBeGreaterThan(0);
    left.destroy();
  });
});

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const left = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const right = await accepted;
  server.close();
  cleanups.push(async () => (left.destroy(), right.destroy()));
  return [left, right];
}

describe('Redis internals', () => {
  it('redis-persistence.ts: mqemitter-redis uses the connections it is given and exposes state and close', async () => {
    const subConn = new Redis({ lazyConnect: true });
    const pubConn = new Redis({ lazyConnect: true });
    const mq = MQEmitterRedis({ subConn, pubConn }) as unknown as { subConn: unknown; pubConn: unknown; state: unknown; close: unknown };
    expect(mq.subConn).toBe(subConn);
    expect(mq.pubConn).toBe(pubConn);
    expect(mq.state).toBeInstanceOf(EventEmitter);
    expect(typeof mq.close).toBe('function');
    subConn.disconnect();
    pubConn.disconnect();
  });

  it('redis-persistence.ts: aedes-persistence-redis honours maxSessionDelivery (max + 1 per CONNECT) and packetTTL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ratchetd-canary-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const redisServer = await startRedis(dir);
    cleanups.push(() => redisServer.stop());
    const count = async (maxSessionDelivery: number): Promise<{ delivered: number; ttlAsked: number }> => {
      const conn = new Redis(redisServer.url);
      cleanups.push(() => conn.quit());
      await conn.flushdb();
      let ttlAsked = 0;
      const p = createRedisPersistence({ conn, maxSessionDelivery, packetTTL: () => (ttlAsked++, 60) }) as unknown as {
        setup(broker: unknown): Promise<void>;
        outgoingEnqueueCombi(subs: Array<{ clientId: string; topic: string; qos: number }>, packet: unknown): Promise<void>;
        outgoingStream(c: { id: string }): AsyncIterable<unknown>;
      };
      const broker = Object.assign(new EventEmitter(), { id: 'canary', subscribe: (_t: string, _f: unknown, cb: () => void) => cb(), unsubscribe: () => undefined });
      await p.setup(broker);
      for (let i = 1; i <= 5; i++) {
        await p.outgoingEnqueueCombi([{ clientId: 'bob', topic: 't', qos: 1 }], { cmd: 'publish', topic: 't', payload: Buffer.from(String(i)), qos: 1, retain: false, brokerId: 'canary', brokerCounter: i });
      }
      let delivered = 0;
      for await (const _ of p.outgoingStream({ id: 'bob' })) delivered++;
      return { delivered, ttlAsked };
    };
    expect(await count(1)).toEqual({ delivered: 2, ttlAsked: 5 });
    expect(await count(100_000)).toEqual({ delivered: 5, ttlAsked: 5 });
  });
});
