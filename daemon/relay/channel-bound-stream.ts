/**
 * The stream mqtt.js talks through (`new MqttClient(builder, options)`), which makes every CONNECT
 * carry credentials made for this very connection.
 *
 * mqtt.js 5 serializes its CONNECT synchronously as soon as the builder returns, before TCP, TLS or
 * the WebSocket is up, and a TLS exporter exists only once the handshake is done. So this stream
 * holds mqtt.js' early writes until the channel is up (TCP 'connect'; TLS 'secureConnect'; WebSocket
 * 'open'), parses the held CONNECT with mqtt-packet, replaces its username and password with
 * `credentials(channelBinding)` — the TLS exporter of this connection (RFC 9266 tls-exporter), empty
 * on mqtt:// and ws:// — re-encodes it and sends everything in one write. mqtt.js' own reconnect
 * loop, keepalive and connect timeout stay as they are.
 *
 * A certificate that does not verify fails the TLS handshake: the error (with its OpenSSL code,
 * e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE) reaches mqtt.js as a stream error before a single MQTT byte
 * was sent, and there is no fallback to plain text.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import WebSocket, { createWebSocketStream } from 'ws';
import { CHANNEL_BINDING_BYTES, NO_CHANNEL_BINDING, TLS_EXPORTER_LABEL } from '../../core/relay-auth.ts';

/**
 * Called without a context argument (OpenSSL's use_context = 0), as RFC 9266 and the broker do
 * (broker/channel-binding.ts): on TLS 1.2 "no context" and "empty context" differ.
 */
const exportWithoutContext = tls.TLSSocket.prototype.exportKeyingMaterial as (this: tls.TLSSocket, length: number, label: string) => Buffer;

/** The RFC 9266 channel binding of an established TLS connection. */
export function tlsChannelBinding(socket: tls.TLSSocket): Uint8Array {
  return new Uint8Array(exportWithoutContext.call(socket, CHANNEL_BINDING_BYTES, TLS_EXPORTER_LABEL));
}

/** Fills in the CONNECT's username and password for a connection with this binding. */
export type BindConnect = (packet: IConnectPacket, channelBinding: Uint8Array) => void;

const PACKET_OPTIONS = { protocolVersion: 4 } as const;

/** mqtt.js re-emits a stream error as a client 'error' only when it has a code. */
function withCode(e: unknown, code: string): Error & { code: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const existing = (err as { code?: unknown }).code;
  return Object.assign(err, { code: typeof existing === 'string' && existing !== '' ? existing : code });
}

export class ChannelBoundStream extends Duplex {
  private pending: Buffer[] = [];
  private flushed = false;
  private secure: tls.TLSSocket | null = null;

  constructor(
    private readonly inner: Duplex,
    /** Resolves when the channel is up: with the TLS socket under it, or null on plain TCP/ws. */
    ready: Promise<tls.TLSSocket | null>,
    bindConnect: BindConnect,
  ) {
    super({ allowHalfOpen: false });
    inner.on('data', (d: Buffer) => {
      if (!this.push(d)) inner.pause();
    });
    inner.once('end', () => this.push(null));
    inner.once('error', (e: unknown) => this.destroy(withCode(e, 'ERR_RELAY_TRANSPORT')));
    inner.once('close', () => this.destroy());
    ready.then(
      (tlsSocket) => this.channelUp(tlsSocket, bindConnect),
      (e: unknown) => this.destroy(withCode(e, 'ERR_RELAY_TRANSPORT')),
    );
  }

  /** The TLS socket under this stream once the channel is up; null on mqtt:// and ws://. */
  get tlsSocket(): tls.TLSSocket | null {
    return this.secure;
  }

  private channelUp(tlsSocket: tls.TLSSocket | null, bindConnect: BindConnect): void {
    if (this.destroyed) return;
    this.secure = tlsSocket;
    try {
      const binding = tlsSocket === null ? NO_CHANNEL_BINDING : tlsChannelBinding(tlsSocket);
      const out: Buffer[] = [];
      const parser = mqttPacket.parser(PACKET_OPTIONS);
      let parseError: Error | undefined;
      parser.on('error', (e: Error) => (parseError = e));
      parser.on('packet', (p: Packet) => {
        if (p.cmd === 'connect') bindConnect(p, binding);
        out.push(mqttPacket.generate(p, PACKET_OPTIONS));
      });
      const left = parser.parse(Buffer.concat(this.pending));
      if (parseError !== undefined) throw parseError;
      if (left !== 0) throw new Error(`${left} bytes of an incomplete MQTT packet before the channel was up`);
      this.pending = [];
      this.flushed = true;
      if (out.length > 0) this.inner.write(Buffer.concat(out)); // one TLS record / one WebSocket message
    } catch (e) {
      this.destroy(withCode(e, 'ERR_RELAY_CHANNEL_BINDING'));
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.forward(chunk, cb);
  }

  /**
   * mqtt-packet corks around each packet's writes (header, topic, payload). A WebSocket gets them as
   * one write (one message per packet); a TCP or TLS socket gets them corked, so they leave in one
   * writev (one TLS record) without copying the payload — a file chunk is 64 KiB.
   */
  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: (e?: Error | null) => void): void {
    if (!this.flushed || !(this.inner instanceof net.Socket)) {
      this.forward(Buffer.concat(chunks.map((c) => c.chunk)), cb);
      return;
    }
    const socket = this.inner;
    socket.cork();
    chunks.forEach((c, i) => socket.write(c.chunk, i === chunks.length - 1 ? cb : undefined));
    socket.uncork();
  }

  private forward(chunk: Buffer, cb: (e?: Error | null) => void): void {
    if (this.flushed) {
      this.inner.write(chunk, cb);
    } else {
      this.pending.push(chunk);
      cb();
    }
  }

  override _read(): void {
    this.inner.resume();
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }

  /** mqtt-relay.ts turns Nagle off on 'connect' (small PUBACKs matter more than packet count). */
  setNoDelay(noDelay: boolean): void {
    const socket = this.secure ?? (this.inner instanceof net.Socket ? this.inner : null);
    socket?.setNoDelay(noDelay);
  }
}

export interface TransportTlsOptions {
  /** Trust only these CAs (PEM) instead of the system roots (`--broker-ca`). */
  readonly ca?: Buffer;
}

/**
 * TLS 1.3 only: the channel binding identifies one connection only on TLS 1.3 (on 1.2 only with
 * extended master secret, which Node cannot check). rejectUnauthorized stays true (Node's default).
 */
const TLS_CLIENT_OPTIONS = { minVersion: 'TLSv1.3' } as const satisfies tls.ConnectionOptions;

const DEFAULT_PORTS: Record<string, number> = { 'mqtt:': 1883, 'mqtts:': 8883 };

/** Opens the connection a relay URL names; `ready` resolves when MQTT bytes may flow. */
export function openTransport(url: string, tlsOptions: TransportTlsOptions = {}): { inner: Duplex; ready: Promise<tls.TLSSocket | null> } {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || DEFAULT_PORTS[u.protocol]);
  const ca = tlsOptions.ca === undefined ? {} : { ca: tlsOptions.ca };
  switch (u.protocol) {
    case 'mqtt:': {
      const s = net.connect({ host, port });
      return { inner: s, ready: new Promise((resolve, reject) => (s.once('connect', () => resolve(null)), s.once('error', reject))) };
    }
    case 'mqtts:': {
      const s = tls.connect({ host, port, ...TLS_CLIENT_OPTIONS, ...ca, ...(net.isIP(host) === 0 ? { servername: host } : {}) });
      return { inner: s, ready: new Promise((resolve, reject) => (s.once('secureConnect', () => resolve(s)), s.once('error', reject))) };
    }
    case 'ws:':
    case 'wss:': {
      const secure = u.protocol === 'wss:';
      const ws = new WebSocket(url, ['mqtt'], { perMessageDeflate: false, ...(secure ? { ...TLS_CLIENT_OPTIONS, ...ca } : {}) });
      let upgraded: tls.TLSSocket | null = null;
      // The 101 response's socket is the TLS socket under the WebSocket.
      ws.once('upgrade', (res) => {
        upgraded = res.socket instanceof tls.TLSSocket ? res.socket : null;
      });
      const inner = createWebSocketStream(ws);
      const ready = new Promise<tls.TLSSocket | null>((resolve, reject) => {
        ws.once('open', () => (secure && upgraded === null ? reject(new Error('wss:// without a TLS socket')) : resolve(upgraded)));
        ws.once('error', reject);
      });
      return { inner, ready };
    }
    default:
      throw withCode(new Error(`unsupported relay URL scheme ${u.protocol}`), 'ERR_RELAY_URL');
  }
}
