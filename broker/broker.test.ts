/**
 * The relay with real mqtt.js clients (MQTT 3.1.1) on a free port: authentication, ACL refusals,
 * size limit, retained bundles.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../core/crypto.ts';
import { createRelayProof } from '../core/relay-auth.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';
import { createBroker } from './broker.ts';
import type { RelayBroker } from './broker.ts';
import { bundleTopic, closed, connectAs, countPubacks, end, inboxTopic, newIdentity, subscribeGranted, tempDir, until } from './test-support.ts';

let crypto: Crypto;
let broker: RelayBroker;
let url: string;
let port: number;
let removeDir: () => Promise<void>;
let alice: RelayIdentity;
let bob: RelayIdentity;
let mallory: RelayIdentity;
const clients: MqttClient[] = [];
const MAX_PAYLOAD = 4096;

async function login(id: RelayIdentity, onMessage?: (topic: string, payload: Buffer) => void): Promise<MqttClient> {
  const c = await connectAs(url, crypto, id, onMessage === undefined ? {} : { onMessage });
  clients.push(c);
  return c;
}

function refusalCode(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'connected',
    (e: { code?: unknown }) => e.code,
  );
}

beforeAll(async () => {
  crypto = await createSodiumCrypto();
  alice = newIdentity(crypto);
  bob = newIdentity(crypto);
  mallory = newIdentity(crypto);
  const tmp = await tempDir('broker');
  removeDir = tmp.remove;
  broker = createBroker({ dataDir: tmp.dir, maxPayloadBytes: MAX_PAYLOAD, crypto });
  ({ url, port } = await broker.start());
});

afterEach(async () => {
  await end(...clients.splice(0));
});

afterAll(async () => {
  await broker.close();
  await removeDir();
});

describe('authentication at CONNECT', () => {
  it('accepts a fresh proof', async () => {
    const c = await login(alice);
    expect(c.connected).toBe(true);
  });

  it('refuses a connection without a proof (CONNACK 4)', async () => {
    expect(await refusalCode(connectAs(url, crypto, alice, { override: { username: undefined, password: undefined } }))).toBe(4);
  });

  it('refuses a garbage password (4) and a bad signature (5)', async () => {
    expect(await refusalCode(connectAs(url, crypto, alice, { override: { password: Buffer.from('hunter2') } }))).toBe(4);
    const p = createRelayProof(crypto, alice, alice.userId, 'ratchetd', Date.now());
    const bad = Buffer.from(p.password);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
    expect(await refusalCode(connectAs(url, crypto, alice, { override: { password: bad } }))).toBe(5);
  });

  it('refuses a proof for another audience (5)', async () => {
    expect(await refusalCode(connectAs(url, crypto, alice, { audience: 'another-relay' }))).toBe(5);
  });

  it("refuses mallory's proof under alice's user id and client id (5)", async () => {
    const p = createRelayProof(crypto, mallory, mallory.userId, 'ratchetd', Date.now());
    const code = await refusalCode(
      connectAs(url, crypto, mallory, { override: { clientId: alice.userId, username: alice.userId, password: Buffer.from(p.password) } }),
    );
    expect(code).toBe(5);
  });

  it('refuses a client id other than the user id (5)', async () => {
    expect(await refusalCode(connectAs(url, crypto, alice, { override: { clientId: 'alice-laptop' } }))).toBe(5);
  });

  it('refuses a replayed proof (5), and accepts the next fresh one', async () => {
    const p = createRelayProof(crypto, alice, alice.userId, 'ratchetd', Date.now());
    const creds = { username: p.username, password: Buffer.from(p.password) };
    const first = await connectAs(url, crypto, alice, { override: creds });
    clients.push(first);
    expect(await refusalCode(connectAs(url, crypto, alice, { override: creds }))).toBe(5);
    expect((await login(alice)).connected).toBe(true);
  });

  it('refuses an MQTT 5 CONNECT (Aedes 1.x speaks 3.1.1)', async () => {
    const code = await refusalCode(connectAs(url, crypto, alice, { override: { protocolVersion: 5 } }));
    expect(code).not.toBe('connected');
  });

  it('logs in again after a dropped connection with a fresh proof (mqtt.js reconnect)', async () => {
    const c = await connectAs(url, crypto, alice, {});
    clients.push(c);
    c.options.reconnectPeriod = 50;
    const reconnected = new Promise<void>((resolve) => c.once('connect', () => resolve()));
    c.stream.destroy();
    await reconnected;
    expect(c.connected).toBe(true);
  });
});

describe('topic ACL', () => {
  it('delivers an inbox message to its owner', async () => {
    const got: string[] = [];
    const b = await login(bob, (_t, p) => got.push(p.toString()));
    await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
    const a = await login(alice);
    await a.publishAsync(inboxTopic(bob.userId), 'sealed-1', { qos: 1 });
    await until(() => got.length >= 1);
    expect(got).toEqual(['sealed-1']);
  });

  it("refuses a subscription to another's inbox (SUBACK 128) and delivers nothing there", async () => {
    const seen: string[] = [];
    const m = await login(mallory, (topic, p) => seen.push(`${topic}:${p.toString()}`));
    expect(await subscribeGranted(m, [inboxTopic(bob.userId), inboxTopic(mallory.userId)])).toEqual([128, 1]);
    const a = await login(alice);
    await a.publishAsync(inboxTopic(bob.userId), 'for-bob-only', { qos: 1 });
    // Barrier: alice's next message, to mallory's own inbox, is delivered after the first was routed.
    await a.publishAsync(inboxTopic(mallory.userId), 'barrier', { qos: 1 });
    await until(() => seen.length > 0);
    expect(seen).toEqual([`${inboxTopic(mallory.userId)}:barrier`]);
  });

  it('refuses every wildcard subscription (SUBACK 128)', async () => {
    const m = await login(mallory);
    const filters = ['#', 'ratchetd/v1/#', 'ratchetd/v1/inbox/+', 'ratchetd/v1/bundle/+', `ratchetd/v1/+/${bob.userId}`, '$SYS/#'];
    expect(await subscribeGranted(m, filters)).toEqual(filters.map(() => 128));
  });

  it("refuses publishing another's bundle: connection closed, no PUBACK, bundle unchanged", async () => {
    const b = await login(bob);
    await b.publishAsync(bundleTopic(bob.userId), 'bob-bundle-v1', { qos: 1, retain: true });
    const m = await login(mallory);
    const pubacks = countPubacks(m);
    const cut = closed(m);
    m.publish(bundleTopic(bob.userId), 'forged-bundle', { qos: 1, retain: true });
    await cut;
    expect(m.connected).toBe(false);
    expect(pubacks()).toBe(0);
    const got: string[] = [];
    const reader = await login(alice, (_t, p) => got.push(p.toString()));
    await reader.subscribeAsync(bundleTopic(bob.userId), { qos: 1 });
    await until(() => got.length >= 1);
    expect(got).toEqual(['bob-bundle-v1']);
  });

  it('refuses a QoS 0 or retained inbox message and topics outside the layout', async () => {
    for (const [topic, opts] of [
      [inboxTopic(bob.userId), { qos: 0 }],
      [inboxTopic(bob.userId), { qos: 1, retain: true }],
      ['ratchetd/v1/other/x', { qos: 1 }],
      ['$SYS/x', { qos: 1 }],
    ] as const) {
      const m = await login(mallory);
      const cut = closed(m);
      m.publish(topic, 'x', opts);
      await cut;
      expect(m.connected, topic).toBe(false);
      await m.endAsync(true);
    }
  });
});

describe('payload size limit', () => {
  it('accepts a payload at the limit and refuses one over it', async () => {
    const got: number[] = [];
    const b = await login(bob, (_t, p) => got.push(p.length));
    await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
    const a = await login(alice);
    await a.publishAsync(inboxTopic(bob.userId), Buffer.alloc(MAX_PAYLOAD, 1), { qos: 1 });
    await until(() => got.length >= 1);
    const cut = closed(a);
    a.publish(inboxTopic(bob.userId), Buffer.alloc(MAX_PAYLOAD + 1, 2), { qos: 1 });
    await cut;
    expect(a.connected).toBe(false);
    await a.endAsync(true);
    const a2 = await login(alice);
    await a2.publishAsync(inboxTopic(bob.userId), Buffer.alloc(3), { qos: 1 });
    await until(() => got.length >= 2);
    expect(got).toEqual([MAX_PAYLOAD, 3]); // the oversize one never arrived
  });

  it('cuts an unauthenticated connection announcing a huge packet before its body is sent', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const header = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'x',
      keepalive: 0,
      username: 'x',
      password: Buffer.alloc(10 * 1024 * 1024),
    });
    const wasClosed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
    socket.on('error', () => undefined);
    socket.write(header.subarray(0, 64 * 1024)); // 64 KiB of a 10 MiB CONNECT
    expect(await wasClosed).toBe(true);
  });
});

describe('retained bundles', () => {
  it('lets another user read a retained bundle, and the owner replace and clear it', async () => {
    const a = await login(alice);
    await a.publishAsync(bundleTopic(alice.userId), 'alice-bundle-v1', { qos: 1, retain: true });
    await a.publishAsync(bundleTopic(alice.userId), 'alice-bundle-v2', { qos: 1, retain: true });
    const got: string[] = [];
    const b = await login(bob, (t, p) => t === bundleTopic(alice.userId) && got.push(p.toString()));
    await b.subscribeAsync(bundleTopic(alice.userId), { qos: 1 });
    await until(() => got.length >= 1);
    expect(got).toEqual(['alice-bundle-v2']);
    await b.unsubscribeAsync(bundleTopic(alice.userId));
    await a.publishAsync(bundleTopic(alice.userId), '', { qos: 1, retain: true }); // clear
    // Barrier through bob's inbox, then a fresh subscription must find no retained bundle.
    const inbox: string[] = [];
    b.on('message', (t, p) => t === inboxTopic(bob.userId) && inbox.push(p.toString()));
    await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
    await b.subscribeAsync(bundleTopic(alice.userId), { qos: 1 });
    await a.publishAsync(inboxTopic(bob.userId), 'barrier', { qos: 1 });
    await until(() => inbox.length >= 1);
    expect(got).toEqual(['alice-bundle-v2']);
  });
});
