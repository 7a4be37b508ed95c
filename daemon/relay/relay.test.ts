import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqttPacket, { type Packet } from 'mqtt-packet';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RECONNECT_BACKOFF } from './backoff.ts';
import { createFakeRelayHub } from './fake-relay.ts';
import { createMqttRelay } from './mqtt-relay.ts';
import { describeRelayContract, testUserId } from './relay-contract.ts';

const logger = pino({ level: 'silent' });

describeRelayContract('in-process fake', async () => {
  const hub = createFakeRelayHub();
  return { transport: (id) => hub.transport(id), cleanup: async () => undefined };
});

async function startAedes(): Promise<{ url: string; close(): Promise<void>; broker: Aedes; server: Server }> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    broker,
    server,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy in front of a broker that parses what clients write (client → broker), in order: the
 * wire order of one connection, so "no PUBACK before that PUBLISH" can be read off it exactly.
 */
async function startUpstreamTap(brokerUrl: string): Promise<{ url: string; packets: Packet[]; next(pred: (p: Packet) => boolean): Promise<Packet>; close(): Promise<void> }> {
  const target = new URL(brokerUrl);
  const packets: Packet[] = [];
  const waiters: Array<{ pred: (p: Packet) => boolean; resolve: (p: Packet) => void }> = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    sockets.add(client).add(upstream);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      packets.push(p);
      for (const w of waiters.splice(0)) if (w.pred(p)) w.resolve(p);
      else waiters.push(w);
    });
    client.on('data', (chunk: Buffer) => {
      parser.parse(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    packets,
    next: (pred) => new Promise((resolve) => waiters.push({ pred, resolve })),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describeRelayContract('mqtt.js on Aedes', async () => {
  const aedes = await startAedes();
  return {
    transport: (userId) =>
      createMqttRelay({ url: aedes.url, userId, logger, bundleWaitMs: 200, backoff: { initialMs: 20, maxMs: 200, factor: 2 } }),
    cleanup: () => aedes.close(),
  };
});

describe('mqtt relay specifics', () => {
  it('leaves mqtt-packet\'s table of 65,536 message-id Buffers unbuilt (writeCache off)', () => {
    createMqttRelay({ url: 'mqtt://127.0.0.1:1', userId: 'abcdefghijklmnopqrstuvwxyz234567' as never, logger });
    expect((mqttPacket as unknown as { writeToStream: { cacheNumbers: boolean } }).writeToStream.cacheNumbers).toBe(false);
  });

  it('sends fresh credentials on every CONNECT', async () => {
    const aedes = await startAedes();
    const seen: string[] = [];
    aedes.broker.authenticate = (_client, username, password, cb) => {
      seen.push(`${username}:${password?.toString()}`);
      cb(null, true);
    };
    let n = 0;
    const relay = createMqttRelay({
      url: aedes.url,
      userId: 'abcdefghijklmnopqrstuvwxyz234567' as never,
      logger,
      credentials: () => ({ username: 'u', password: `proof-${++n}` }),
      backoff: { initialMs: 10, maxMs: 50, factor: 2 },
    });
    relay.onEnvelope(async () => undefined);
    relay.start();
    await relay.whenConnected();
    // drop the connection from the broker side; the client reconnects with a new proof
    const disconnected = new Promise<void>((resolve) => relay.onStatus((s) => s === 'disconnected' && resolve()));
    for (const c of Object.values((aedes.broker as unknown as { clients: Record<string, { close(): void }> }).clients)) c.close();
    await disconnected;
    await relay.whenConnected();
    await relay.close();
    await aedes.close();
    expect(seen).toEqual(['u:proof-1', 'u:proof-2']);
  });

  it('handles envelopes concurrently but acks each only once stored, in arrival order', async () => {
    const aedes = await startAedes();
    const tap = await startUpstreamTap(aedes.url); // bob's side of the wire
    const bobId = testUserId();
    const aliceId = testUserId();
    const acks: string[] = []; // the PUBACKs bob's connection sent, in the broker's order
    const allAcked = new Promise<void>((resolve) => {
      aedes.broker.on('ack', (packet, client) => {
        if (client.id === bobId && packet && 'payload' in packet) acks.push(Buffer.from(packet.payload as Buffer).toString());
        if (acks.length === 3) resolve();
      });
    });
    const bob = createMqttRelay({ url: tap.url, userId: bobId, logger });
    const alice = createMqttRelay({ url: aedes.url, userId: aliceId, logger });
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const allStarted = new Promise<void>((resolve) => {
      bob.onEnvelope(
        (bytes) =>
          new Promise<void>((done) => {
            const name = Buffer.from(bytes).toString();
            started.push(name);
            finish.set(name, done);
            if (started.length === 3) resolve();
          }),
      );
    });
    alice.onEnvelope(async () => undefined);
    bob.start();
    alice.start();
    await Promise.all([bob.whenConnected(), alice.whenConnected()]);
    for (const m of ['m1', 'm2', 'm3']) await alice.publishEnvelope(bobId, Buffer.from(m));
    await allStarted; // all three handlers run before any finished: not serial
    expect(started).toEqual(['m1', 'm2', 'm3']);
    finish.get('m3')!();
    finish.get('m2')!();
    // m3 and m2 are stored; once their handlers' continuations have run (a macrotask later), an ack
    // sent on completion would already be on the wire. Bob then publishes a marker: bob's packets
    // up to the marker hold no PUBACK (m1 is not stored yet, and acks keep arrival order).
    await new Promise((resolve) => setImmediate(resolve));
    const marker = tap.next((p) => p.cmd === 'publish' && Buffer.from(p.payload).toString() === 'marker');
    await bob.publishEnvelope(aliceId, Buffer.from('marker'));
    await marker;
    const upToMarker = tap.packets.slice(0, tap.packets.findIndex((p) => p.cmd === 'publish' && Buffer.from(p.payload).toString() === 'marker'));
    expect(upToMarker.filter((p) => p.cmd === 'puback')).toEqual([]);
    finish.get('m1')!();
    await allAcked;
    expect(acks).toEqual(['m1', 'm2', 'm3']);
    await bob.close();
    await alice.close();
    await tap.close();
    await aedes.close();
  });

  it('backoff grows exponentially with jitter and is capped', () => {
    const p = DEFAULT_RECONNECT_BACKOFF;
    expect(backoffDelay(p, 0, () => 0)).toBe(p.initialMs / 2);
    expect(backoffDelay(p, 0, () => 0.999999)).toBeLessThanOrEqual(p.initialMs);
    expect(backoffDelay(p, 3, () => 0)).toBe((p.initialMs * 8) / 2);
    expect(backoffDelay(p, 100, () => 0.5)).toBe(Math.round(p.maxMs * 0.75));
  });
});
