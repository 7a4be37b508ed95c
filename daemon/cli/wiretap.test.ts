import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { startWiretap, type TappedPublish, type Wiretap } from './wiretap.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('wiretap', () => {
  it('reports client PUBLISH packets and forwards every byte unchanged both ways', async () => {
    const received: Buffer[] = [];
    const upstream: Server = createServer((s) => {
      // The tap resets this side when the client goes away at the end (ECONNRESET): not a failure.
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        received.push(d);
        s.write(Buffer.from('pong'));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => upstream.close(() => r())));
    const seen: TappedPublish[] = [];
    const tap: Wiretap = await startWiretap(`mqtt://127.0.0.1:${(upstream.address() as AddressInfo).port}`, (p) => seen.push(p));
    cleanups.push(() => tap.close());

    const bytes = Buffer.concat([
      mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c1', clean: false, keepalive: 30 }),
      mqttPacket.generate({ cmd: 'publish', topic: 'rd/inbox/x', payload: Buffer.from([1, 2, 3]), qos: 1, messageId: 7, retain: false, dup: false }),
      mqttPacket.generate({ cmd: 'publish', topic: 'rd/bundle/y', payload: Buffer.from([9]), qos: 1, messageId: 8, retain: true, dup: false }),
    ]);
    const client = connect({ host: '127.0.0.1', port: Number(new URL(tap.url).port) });
    client.on('error', () => undefined); // the same at the end, on this side
    const reply = new Promise<string>((r) => client.once('data', (d: Buffer) => r(d.toString())));
    // split the stream mid-packet: the parser must reassemble
    client.write(bytes.subarray(0, 20));
    await new Promise((r) => setTimeout(r, 20));
    client.write(bytes.subarray(20));
    expect(await reply).toBe('pong');
    while (Buffer.concat(received).length < bytes.length || seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    client.destroy();
    expect(Buffer.concat(received).equals(bytes)).toBe(true);
    expect(seen).toEqual([
      { topic: 'rd/inbox/x', payload: new Uint8Array([1, 2, 3]), retain: false },
      { topic: 'rd/bundle/y', payload: new Uint8Array([9]), retain: true },
    ]);
  });
});
