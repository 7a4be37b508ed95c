/**
 * Canaries for the mqtt.js (and mqtt-packet) internals the relay client relies on (issue 10
 * item 9); both are pinned exactly in package.json (broker/library-canaries.test.ts checks the
 * pins). An upgrade that changes one of these fails here instead of silently undoing a fix:
 *   - ordered-acks.ts: a PUBACK is sent through `client._sendPacket`, only after handleMessage's callback;
 *   - mqtt-relay.ts: `client.handleMessage` replaced on the instance is what mqtt.js calls;
 *   - channel-bound-stream.ts: `new MqttClient(builder)` calls the builder for every connection
 *     and writes the CONNECT into the returned stream at once (the stream holds it until its channel
 *     is up), never waiting for a 'connect' event of that stream; mqtt-packet parses and re-encodes it;
 *   - mqtt-relay.ts (backoff): `options.reconnectPeriod` is read again for every reconnect timer.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { Aedes } from 'aedes';
import mqtt, { MqttClient, type IPublishPacket } from 'mqtt';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it, vi } from 'vitest';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startAedes(): Promise<string> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((s) => (sockets.add(s), broker.handle(s)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

type SendPacket = (packet: { cmd: string }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

describe('mqtt.js internals', () => {
  it('ordered-acks.ts and mqtt-relay.ts: the instance handleMessage is called first, the PUBACK goes through _sendPacket only after its callback', async () => {
    const url = await startAedes();
    const bob = mqtt.connect(url, { clientId: 'bob', reconnectPeriod: 0, protocolVersion: 4, manualConnect: true });
    cleanups.push(() => bob.endAsync(true));
    const internals = bob as unknown as { _sendPacket: SendPacket };
    expect(typeof internals._sendPacket).toBe('function');
    const order: string[] = [];
    const send = internals._sendPacket.bind(bob);
    internals._sendPacket = (packet, cb, ...rest) => (packet.cmd === 'puback' && order.push('puback'), send(packet, cb, ...rest));
    let release!: () => void;
    const handled = new Promise<void>((resolve) => {
      bob.handleMessage = (packet: IPublishPacket, cb: (error?: Error) => void) => {
        order.push(`handle ${packet.payload.toString()}`);
        release = () => (order.push('callback'), cb());
        resolve();
      };
    });
    bob.connect();
    await new Promise<void>((resolve) => bob.once('connect', () => resolve()));
    await bob.subscribeAsync('t', { qos: 1 });
    const alice = await mqtt.connectAsync(url, { clientId: 'alice', reconnectPeriod: 0 });
    cleanups.push(() => alice.endAsync(true));
    const acked = alice.publishAsync('t', 'x', { qos: 1 });
    await handled;
    expect(order).toEqual(['handle x']);
    release();
    await acked; // Aedes PUBACKs alice; bob's PUBACK went out through _sendPacket
    while (!order.includes('puback')) await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['handle x', 'callback', 'puback']);
  });

  it('channel-bound-stream.ts: the builder runs for every connection and gets the CONNECT at once, with no connect event', async () => {
    const streams: Duplex[] = [];
    const connects: IConnectPacket[] = [];
    // A stream that never emits 'connect' (as ChannelBoundStream): mqtt.js must write to it anyway.
    class FakeConnection extends Duplex {
      private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
      constructor() {
        super();
        this.parser.on('packet', (p: Packet) => {
          if (p.cmd !== 'connect') return;
          connects.push(p);
          if (connects.length === 1) setImmediate(() => this.destroy()); // drop the first connection: mqtt.js reconnects
          else this.push(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
        });
      }
      override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
        this.parser.parse(chunk);
        cb();
      }
      override _read(): void {}
    }
    const builder = (): Duplex => {
      const s = new FakeConnection();
      streams.push(s);
      return s;
    };
    const client = new MqttClient(builder, { clientId: 'canary', protocolVersion: 4, reconnectPeriod: 10, username: 'u', password: Buffer.from('p') });
    cleanups.push(() => client.endAsync(true));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    expect(streams).toHaveLength(2);
    expect(connects.map((c) => [c.clientId, c.username, c.password?.toString()])).toEqual([
      ['canary', 'u', 'p'],
      ['canary', 'u', 'p'],
    ]);
    // mqtt-packet re-encodes a parsed CONNECT byte for byte (what the stream does before replacing the password)
    const bytes = mqttPacket.generate(connects[0]!);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let again: Packet | undefined;
    parser.on('packet', (p: Packet) => (again = p));
    parser.parse(bytes);
    expect(mqttPacket.generate(again!).equals(bytes)).toBe(true);
  });

  it('backoff: options.reconnectPeriod is read again for each reconnect timer', async () => {
    const builder = (): Duplex => {
      const s = new PassThrough();
      setImmediate(() => s.destroy()); // every connection fails
      return s;
    };
    const periods: number[] = [];
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const client = new MqttClient(builder, { clientId: 'canary', protocolVersion: 4, reconnectPeriod: 5 });
    cleanups.push(() => client.endAsync(true));
    let n = 0;
    await new Promise<void>((resolve) => {
      client.on('reconnect', () => {
        n += 1;
        client.options.reconnectPeriod = 5 + n;
        if (n === 3) resolve();
      });
    });
    for (const call of setIntervalSpy.mock.calls) if (typeof call[1] === 'number' && call[1] >= 5 && call[1] <= 8) periods.push(call[1]);
    expect(periods.slice(0, 3)).toEqual([5, 6, 7]);
  });
});
