import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
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

describeRelayContract('mqtt.js on Aedes', async () => {
  const aedes = await startAedes();
  return {
    transport: (userId) =>
      createMqttRelay({ url: aedes.url, userId, logger, bundleWaitMs: 200, backoff: { initialMs: 20, maxMs: 200, factor: 2 } }),
    cleanup: () => aedes.close(),
  };
});

describe('mqtt relay specifics', () => {
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
    const acks: string[] = [];
    aedes.broker.on('ack', (packet) => {
      if (packet && 'payload' in packet) acks.push(Buffer.from(packet.payload as Buffer).toString());
    });
    const bobId = testUserId();
    const bob = createMqttRelay({ url: aedes.url, userId: bobId, logger });
    const alice = createMqttRelay({ url: aedes.url, userId: testUserId(), logger });
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
    await new Promise((r) => setTimeout(r, 50));
    expect(acks).toEqual([]); // m1 not stored yet: nothing acked (acks keep arrival order)
    finish.get('m1')!();
    for (let i = 0; i < 100 && acks.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(acks).toEqual(['m1', 'm2', 'm3']);
    await bob.close();
    await alice.close();
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
