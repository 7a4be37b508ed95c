/**
 * A malicious-relay TCP tap for the attack tests: sits between MQTT clients (the daemons) and the
 * broker, records every byte both ways, parses every MQTT 3.1.1 packet both ways (mqtt-packet), and
 * can act as an active attacker on the wire:
 *   - rewrite or drop any packet (e.g. substitute the retained bundle the broker sends a daemon);
 *   - inject a PUBLISH towards a client (e.g. replay a captured envelope), swallowing that client's
 *     PUBACK so the broker never sees an ack for a message id it did not send.
 * Packets are re-framed with mqtt-packet's generator, so injected packets always sit on packet
 * boundaries. The recorded raw bytes are exactly what each side wrote (before any rewrite).
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';

/** 'up' = client → broker, 'down' = broker → client. */
export type TapDirection = 'up' | 'down';

export interface TapEvent {
  /** Global order of observation over all connections. */
  readonly seq: number;
  readonly conn: number;
  /** The client id of the connection's CONNECT (a daemon's user id). */
  readonly clientId: string | undefined;
  readonly dir: TapDirection;
  readonly packet: Packet;
  /** What the tap did with it. */
  readonly action: 'forwarded' | 'rewritten' | 'dropped' | 'injected';
}

export interface TapPublish {
  readonly event: TapEvent;
  readonly topic: string;
  readonly payload: Buffer;
}

/** Return a packet to send instead, null to drop it, undefined to forward it unchanged. */
export type TapRewriter = (packet: Packet, info: { conn: number; clientId: string | undefined; dir: TapDirection }) => Packet | null | undefined;

interface Conn {
  readonly id: number;
  clientId: string | undefined;
  readonly client: Socket;
  readonly upstream: Socket;
  /** Message ids of PUBLISHes the tap injected towards this client whose PUBACK is swallowed. */
  readonly injected: Set<number>;
  /** Message ids of broker PUBLISHes (QoS > 0) not yet acked by the client. */
  readonly inflightDown: Set<number>;
}

export interface TcpTap {
  readonly url: string;
  /** Every byte the clients and the broker wrote, both directions, in arrival order. */
  rawBytes(): Buffer;
  readonly events: readonly TapEvent[];
  /** PUBLISH packets seen in a direction (optionally only on one client's connection). */
  publishes(dir: TapDirection, clientId?: string): TapPublish[];
  setRewriter(rewriter: TapRewriter | undefined): void;
  /** Off: bytes and events are no longer kept (waiters and listeners still see events). For floods. */
  setRecording(on: boolean): void;
  /** Called for every event, recorded or not. */
  onEvent(listener: (e: TapEvent) => void): void;
  /** Sends a QoS 1 PUBLISH to a connected client; resolves with the event of the client's PUBACK. */
  injectToClient(clientId: string, topic: string, payload: Uint8Array): Promise<TapEvent>;
  /** Resolves with the first event (already seen or future) matching pred. */
  waitFor(pred: (e: TapEvent) => boolean, what: string, timeoutMs?: number): Promise<TapEvent>;
  close(): Promise<void>;
}

function asPublish(e: TapEvent): TapPublish | null {
  if (e.packet.cmd !== 'publish') return null;
  const p = e.packet as IPublishPacket;
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : Buffer.from(p.payload);
  return { event: e, topic: p.topic, payload };
}

export async function startTcpTap(brokerUrl: string): Promise<TcpTap> {
  const target = new URL(brokerUrl);
  const raw: Buffer[] = [];
  const events: TapEvent[] = [];
  const conns = new Map<number, Conn>();
  const waiters = new Set<{ pred: (e: TapEvent) => boolean; done: (e: TapEvent) => void }>();
  let rewriter: TapRewriter | undefined;
  let recording = true;
  const listeners: Array<(e: TapEvent) => void> = [];
  let nextConn = 0;
  let seq = 0;

  const record = (conn: Conn, dir: TapDirection, packet: Packet, action: TapEvent['action']): TapEvent => {
    const e: TapEvent = { seq: seq++, conn: conn.id, clientId: conn.clientId, dir, packet, action };
    if (recording) events.push(e);
    for (const l of listeners) l(e);
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.delete(w);
        w.done(e);
      }
    }
    return e;
  };

  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    const conn: Conn = { id: nextConn++, clientId: undefined, client, upstream, injected: new Set(), inflightDown: new Set() };
    conns.set(conn.id, conn);
    const pipe = (from: Socket, to: Socket, dir: TapDirection): void => {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (packet: Packet) => {
        if (dir === 'up' && packet.cmd === 'connect') conn.clientId = packet.clientId;
        if (dir === 'down' && packet.cmd === 'publish' && packet.qos > 0 && packet.messageId !== undefined) conn.inflightDown.add(packet.messageId);
        if (dir === 'up' && packet.cmd === 'puback' && packet.messageId !== undefined) {
          conn.inflightDown.delete(packet.messageId);
          if (conn.injected.delete(packet.messageId)) {
            record(conn, dir, packet, 'dropped'); // the ack of an injected packet: the broker never sent it
            return;
          }
        }
        const replaced = rewriter?.(packet, { conn: conn.id, clientId: conn.clientId, dir });
        if (replaced === null) {
          record(conn, dir, packet, 'dropped');
          return;
        }
        const out = replaced ?? packet;
        record(conn, dir, out, replaced === undefined ? 'forwarded' : 'rewritten');
        if (!to.destroyed) to.write(mqttPacket.generate(out));
      });
      parser.on('error', () => {
        from.destroy();
        to.destroy();
      });
      from.on('data', (chunk: Buffer) => {
        if (recording) raw.push(Buffer.from(chunk));
        parser.parse(chunk);
      });
    };
    pipe(client, upstream, 'up');
    pipe(upstream, client, 'down');
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      conns.delete(conn.id);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;

  const waitFor = (pred: (e: TapEvent) => boolean, what: string, timeoutMs = 30_000): Promise<TapEvent> => {
    const seen = events.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        done: (e: TapEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`tap: timed out waiting for ${what}`));
      }, timeoutMs);
      waiters.add(w);
    });
  };

  return {
    url: `mqtt://127.0.0.1:${port}`,
    rawBytes: () => Buffer.concat(raw),
    events,
    publishes(dir, clientId) {
      const out: TapPublish[] = [];
      for (const e of events) {
        if (e.dir !== dir || (clientId !== undefined && e.clientId !== clientId) || e.action === 'dropped') continue;
        const p = asPublish(e);
        if (p !== null) out.push(p);
      }
      return out;
    },
    setRewriter(r) {
      rewriter = r;
    },
    setRecording(on) {
      recording = on;
    },
    onEvent(listener) {
      listeners.push(listener);
    },
    injectToClient(clientId, topic, payload) {
      const conn = [...conns.values()].reverse().find((c) => c.clientId === clientId && !c.client.destroyed);
      if (conn === undefined) return Promise.reject(new Error(`tap: no live connection of ${clientId}`));
      let messageId = 65_535;
      while (conn.inflightDown.has(messageId) || conn.injected.has(messageId)) messageId--;
      conn.injected.add(messageId);
      const packet: IPublishPacket = { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, retain: false, dup: false };
      record(conn, 'down', packet, 'injected');
      const acked = waitFor((e) => e.conn === conn.id && e.dir === 'up' && e.packet.cmd === 'puback' && e.packet.messageId === messageId, `PUBACK of injected ${messageId}`);
      conn.client.write(mqttPacket.generate(packet));
      return acked;
    },
    waitFor,
    close: () =>
      new Promise<void>((done) => {
        for (const c of conns.values()) {
          c.client.destroy();
          c.upstream.destroy();
        }
        server.close(() => done());
      }),
  };
}
