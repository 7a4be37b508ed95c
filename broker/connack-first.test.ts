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
 * which a live publish used to overtake the CONNACK, made as wide as the test needs.
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
  if (fixed) holdDeliveriesUntilConnack(aedes);
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
  };
}

/** The packets a raw connection receives, in order. */
function rawConnect(port: number, clientId: string): { packets: Packet[]; socket: net.Socket } {
  const packets: Packet[] = [];
  const socket = net.connect({ host: '127.0.0.1', port });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: Packet) => packets.push(p));
  socket.on('data', (d: Buffer) => parser.parse(d));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 60 }));
  cleanups.push(async () => socket.destroy());
  return { packets, socket };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function firstPacketsOfReturningSession(fixed: boolean): Promise<string[]> {
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
  await new Promise((r) => setTimeout(r, 50)); // time for a delivery to reach bob's socket
  b.release();
  await until('two packets at bob', () => back.packets.length >= 2);
  return back.packets.map((p) => p.cmd);
}

describe('a returning persistent session', () => {
  it('gets its CONNACK before a live publish that arrived while its subscriptions were being restored', async () => {
    const packets = await firstPacketsOfReturningSession(true);
    expect(packets[0]).toBe('connack');
    // the live copy, and (Aedes queued it too: bob was not registered yet) the stored one, a QoS 1 duplicate
    expect(packets.slice(1)).toContain('publish');
  });

  it('(control) without the work-around, plain Aedes writes that publish first', async () => {
    expect((await firstPacketsOfReturningSession(false))[0]).toBe('publish');
  });
});
