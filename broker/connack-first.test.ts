import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import type { AedesOptions } from 'aedes';
import * as memoryPersistence from 'aedes-persistence';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { holdDeliveriesUntilConnack } from './connack-first.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

interface Persistence {
  delWill(client: { id: string }): Promise<unknown>;
}

/**
 * A plain Aedes (in-memory persistence) whose CONNECT of `held` stops after its subscriptions are
 * restored (in storeWill, the step before the CONNACK) until the test releases it: the window in
 * which a live publish used to overtake the CONNACK, made as wide as the test needs. Probes on
 * `held`'s deliveries (deliver0/deliverQoS, what the restored subscriptions call) report, from
 * outside the work-around, that a delivery was attempted inside the window and whether it went on
 * to Aedes' write path at once, and from inside it, when Aedes wrote it: the test waits for events,
 * never for time, whether the work-around holds the delivery or not.
 */
interface GatedBroker {
  readonly url: string;
  readonly port: number;
  /** From now on, `held`'s next CONNECT stops after its subscriptions are restored. */
  arm(): void;
  /** Resolves when that CONNECT has reached the gate. */
  readonly restored: Promise<void>;
  /** Lets it go on to its CONNACK. */
  release(): void;
  /** Resolves when `held`'s connection is first handed a delivery: whether it went on to Aedes' write path at once. */
  readonly deliveryAttempted: Promise<boolean>;
  /** Resolves when Aedes has written that delivery to the socket. */
  readonly deliveryWritten: Promise<void>;
}

type Deliver = (packet: unknown, cb: (err?: unknown) => void) => void;

/** Wraps every connection's deliver0/deliverQoS (as holdDeliveriesUntilConnack does: via aedes.handle). */
function probeDeliveries(aedes: Aedes, wrap: (client: { id?: string }, deliver: Deliver) => Deliver): void {
  const handle = aedes.handle.bind(aedes);
  aedes.handle = (stream, request) => {
    const client = handle(stream, request);
    const c = client as unknown as Record<'deliver0' | 'deliverQoS', Deliver> & { id?: string };
    for (const name of ['deliver0', 'deliverQoS'] as const) c[name] = wrap(c, c[name].bind(c));
    return client;
  };
}

async function broker(fixed: boolean, held: string): Promise<GatedBroker> {
  const persistence = (memoryPersistence as unknown as { default: () => Persistence }).default();
  const delWill = persistence.delWill.bind(persistence);
  let armed = false;
  let reached: () => void = () => undefined;
  let release: () => void = () => undefined;
  const restored = new Promise<void>((resolve) => (reached = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  persistence.delWill = async (client) => {
    if (armed && client.id === held) {
      reached();
      await gate;
    }
    return delWill(client);
  };
  const aedes = await Aedes.createBroker({ persistence } as unknown as AedesOptions);
  // Two probes on `held`'s deliveries: inside the work-around (Aedes' own deliver0/deliverQoS: the
  // write path) and outside it (a delivery requested by a restored subscription).
  let entered = false;
  let written: () => void = () => undefined;
  const deliveryWritten = new Promise<void>((resolve) => (written = resolve));
  probeDeliveries(aedes, (client, deliver) => (packet, cb) => {
    if (armed && client.id === held) entered = true;
    deliver(packet, (err) => {
      if (armed && client.id === held) written();
      cb(err);
    });
  });
  if (fixed) holdDeliveriesUntilConnack(aedes);
  let attempted: (reachedAedes: boolean) => void = () => undefined;
  const deliveryAttempted = new Promise<boolean>((resolve) => (attempted = resolve));
  probeDeliveries(aedes, (client, deliver) => (packet, cb) => {
    deliver(packet, cb);
    if (armed && client.id === held) attempted(entered);
  });
  const server = net.createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    release();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    arm: () => (armed = true),
    restored,
    release: () => release(),
    deliveryAttempted,
    deliveryWritten,
  };
}

/** The packets a raw connection receives, in order; `received(n)` resolves once n have come. */
function rawConnect(port: number, clientId: string): { packets: Packet[]; received(n: number): Promise<void> } {
  const packets: Packet[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const socket = net.connect({ host: '127.0.0.1', port });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: Packet) => {
    packets.push(p);
    for (const w of waiters.splice(0)) if (packets.length >= w.n) w.resolve();
    else waiters.push(w);
  });
  socket.on('data', (d: Buffer) => parser.parse(d));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 60 }));
  cleanups.push(async () => socket.destroy());
  return {
    packets,
    received: (n) => (packets.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** The commands bob's returning connection receives first, and whether the live copy, handed over before his CONNACK, went straight on to be written. */
async function firstPacketsOfReturningSession(fixed: boolean): Promise<{ packets: string[]; writtenAtOnce: boolean }> {
  const b = await broker(fixed, 'bob');
  // bob's persistent session with a QoS 1 subscription, then offline
  const bob = await mqtt.connectAsync(b.url, { clientId: 'bob', clean: false, reconnectPeriod: 0 });
  await bob.subscribeAsync('inbox/bob', { qos: 1 });
  await bob.endAsync();
  const alice = await mqtt.connectAsync(b.url, { clientId: 'alice', reconnectPeriod: 0 });
  cleanups.push(() => alice.endAsync(true));

  b.arm();
  const back = rawConnect(b.port, 'bob');
  await b.restored; // bob's subscription is live again; his CONNACK is not written yet
  await alice.publishAsync('inbox/bob', 'live', { qos: 1 });
  // The live copy is handed to bob's connection while his CONNACK is not written yet. If it went on
  // to Aedes' write path (plain Aedes, or a work-around that failed to hold it), wait until it is
  // written, so that it is on the socket before the CONNACK can be; else it is held: release.
  const writtenAtOnce = await b.deliveryAttempted;
  if (writtenAtOnce) await b.deliveryWritten;
  b.release();
  await back.received(2);
  return { packets: back.packets.map((p) => p.cmd), writtenAtOnce };
}

describe('a returning persistent session', () => {
  it('gets its CONNACK before a live publish that arrived while its subscriptions were being restored', async () => {
    const { packets, writtenAtOnce } = await firstPacketsOfReturningSession(true);
    expect(writtenAtOnce, 'the live copy was held, not written').toBe(false);
    expect(packets[0]).toBe('connack');
    // the live copy, and (Aedes queued it too: bob was not registered yet) the stored one, a QoS 1 duplicate
    expect(packets.slice(1)).toContain('publish');
  });

  it('(control) without the work-around, plain Aedes writes that publish first', async () => {
    const { packets, writtenAtOnce } = await firstPacketsOfReturningSession(false);
    expect(writtenAtOnce).toBe(true);
    expect(packets[0]).toBe('publish');
  });
});
