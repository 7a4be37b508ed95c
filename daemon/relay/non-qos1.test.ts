/**
 * Issue 10 item 9: the relay client's path for envelopes that arrive with QoS 0 or 2 (a broker that
 * ignores the QoS 1 subscription) used to call mqtt.js' callback after a failed store — for QoS 2
 * that sends PUBCOMP, and the broker forgets an envelope that was never stored. Now a failed store
 * drops the connection without acking, as on the QoS 1 path, and the envelope comes again.
 *
 * The broker here is scripted with mqtt-packet: it grants the subscription, then delivers one
 * QoS 2 envelope (PUBLISH, PUBREC ←, PUBREL) and, on a reconnect, resends the PUBREL (MQTT 3.1.1
 * §4.4), as a broker must for an unfinished QoS 2 flow.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMqttRelay } from './mqtt-relay.ts';
import { testUserId } from './relay-contract.ts';
import type { RelayTransport } from './transport.ts';

const logger = pino({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Seen {
  readonly conn: number;
  readonly cmd: string;
}

/** A broker that speaks just enough MQTT 3.1.1 to deliver envelopes with `qos`. */
/** qos 2: one envelope, its PUBREL resent after a reconnect; qos 0: two on the first connection, one on the next. */
async function scriptedBroker(topic: string, qos: 0 | 2): Promise<{ url: string; seen: Seen[]; waitFor(pred: (s: Seen) => boolean): Promise<void> }> {
  const seen: Seen[] = [];
  const waiters: Array<{ pred: (s: Seen) => boolean; done: () => void }> = [];
  const note = (s: Seen): void => {
    seen.push(s);
    for (const w of [...waiters]) if (w.pred(s)) (waiters.splice(waiters.indexOf(w), 1), w.done());
  };
  let conns = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const conn = ++conns;
    sockets.add(socket);
    socket.on('close', () => (sockets.delete(socket), note({ conn, cmd: 'closed' })));
    socket.on('error', () => undefined);
    const send = (p: Packet): void => void socket.write(mqttPacket.generate(p));
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      note({ conn, cmd: p.cmd });
      if (p.cmd === 'connect') send({ cmd: 'connack', returnCode: 0, sessionPresent: conn > 1 });
      if (p.cmd === 'subscribe') {
        send({ cmd: 'suback', messageId: p.messageId, granted: [1] });
        const publish = (text: string, messageId: number): void =>
          send({ cmd: 'publish', topic, payload: Buffer.from(text), qos, messageId, retain: false, dup: false });
        if (qos === 2) {
          if (conn === 1) publish('envelope', 7);
          else send({ cmd: 'pubrel', messageId: 7 }); // the unfinished flow, resumed
        } else if (conn === 1) {
          publish('first', 7);
          publish('second', 8);
        } else {
          publish('after reconnect', 9);
        }
      }
      if (p.cmd === 'pubrec') send({ cmd: 'pubrel', messageId: 7 });
    });
    socket.on('data', (d: Buffer) => parser.parse(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => (sockets.forEach((s) => s.destroy()), server.close(r))));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    waitFor: (pred) =>
      seen.some(pred) ? Promise.resolve() : new Promise<void>((done) => waiters.push({ pred, done })),
  };
}

function relayFailingOnce(url: string, userId: ReturnType<typeof testUserId>): { relay: RelayTransport; firstStored: Promise<string> } {
  const relay = createMqttRelay({ url, userId, logger, backoff: { initialMs: 10, maxMs: 20, factor: 1 } });
  let attempts = 0;
  let stored!: (text: string) => void;
  const firstStored = new Promise<string>((resolve) => (stored = resolve));
  relay.onEnvelope(async (bytes) => {
    if (++attempts === 1) throw new Error('simulated storage failure');
    stored(Buffer.from(bytes).toString());
  });
  cleanups.push(() => relay.close());
  return { relay, firstStored };
}

describe('the relay client on a broker that delivers with QoS 0 or 2', () => {
  it('QoS 2: a failed store sends no PUBCOMP and drops the connection; the redelivery is stored, then acked', async () => {
    const userId = testUserId();
    const broker = await scriptedBroker(`ratchetd/v1/inbox/${userId}`, 2);
    const { relay, firstStored } = relayFailingOnce(broker.url, userId);
    relay.start();
    await broker.waitFor((s) => s.cmd === 'pubcomp');
    expect(broker.seen.find((s) => s.cmd === 'pubcomp')?.conn, 'PUBCOMP only on the connection after the failure').toBe(2);
    expect(broker.seen.filter((s) => s.conn === 1).map((s) => s.cmd)).toEqual(['connect', 'subscribe', 'pubrec', 'closed']);
    expect(await firstStored).toBe('envelope');
  });

  it('QoS 0: a failed store drops the connection instead of going on as if stored', async () => {
    const userId = testUserId();
    const broker = await scriptedBroker(`ratchetd/v1/inbox/${userId}`, 0);
    const { relay, firstStored } = relayFailingOnce(broker.url, userId);
    relay.start();
    // Going on would store "second" on the same connection; dropping it, the next is the reconnect's.
    expect(await firstStored).toBe('after reconnect');
    expect(broker.seen.filter((s) => s.conn === 1).map((s) => s.cmd)).toEqual(['connect', 'subscribe', 'closed']);
  });
});
