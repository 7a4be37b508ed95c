/**
 * The broker's listeners: MQTT on `port` — plain TCP, or with TLS credentials only `mqtts` — and,
 * with a `wsPort`, MQTT over WebSockets on any path (`ws`, or `wss` with TLS). Every connection
 * gets the same treatment before Aedes sees it: no Nagle delay, the frame-size guard (a packet that
 * announces more than the limit is cut before its body arrives; on WebSockets also `maxPayload`), and
 * tracking, so close() can end connections that never completed CONNECT.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { guardFrames } from './frame-guard.ts';
import { secureContextOptions, type TlsCredentials } from './tls-credentials.ts';

export interface Endpoint {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the listener. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  /** WebSocket port; null = no WebSocket listener. */
  readonly wsPort: number | null;
  /** TLS credentials: then every listener is TLS (mqtts, wss); null = plain (mqtt, ws). */
  readonly tls: TlsCredentials | null;
  /** Largest MQTT packet body a connection may announce (bytes). */
  readonly maxFrameBytes: number;
  readonly logger: Logger;
  /** Hands an accepted connection to Aedes (req: the HTTP upgrade request of a WebSocket). */
  readonly accept: (stream: Duplex, req?: IncomingMessage) => void;
}

export interface Listening {
  readonly mqtt: Endpoint;
  readonly ws: Endpoint | null;
  /** Serves these credentials to connections from now on; open connections keep theirs. */
  setCredentials(credentials: TlsCredentials): void;
  /** Stops listening and ends every connection still open. */
  close(): Promise<void>;
}

function listen(server: net.Server, port: number, host: string): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

function endpoint(scheme: string, address: net.AddressInfo): Endpoint {
  const host = address.address;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `${scheme}://${urlHost}:${address.port}`, host, port: address.port };
}

export async function openListeners(o: ListenerOptions): Promise<Listening> {
  const log = o.logger;
  const raw = new Set<net.Socket>();
  const servers: net.Server[] = [];
  const secure: tls.Server[] = [];
  let webSockets: WebSocketServer | null = null;

  const track = (server: net.Server): void => {
    servers.push(server);
    if (server instanceof tls.Server) {
      secure.push(server);
      server.on('tlsClientError', (err: NodeJS.ErrnoException) => log.debug({ code: err.code, err: err.message }, 'TLS handshake failed'));
    }
    // The TCP socket under every connection (under TLS and HTTP too): close() destroys what is left.
    server.on('connection', (socket: net.Socket) => {
      raw.add(socket);
      socket.once('close', () => raw.delete(socket));
    });
  };
  const tooLarge = (): void => log.info({ limit: o.maxFrameBytes }, 'connection cut: packet over the size limit');
  const acceptSocket = (socket: net.Socket): void => {
    // Nagle + the client's delayed ACK held the second of two small writes (SUBACK then the
    // retained bundle; PUBACK then a delivery) for ~40 ms: a bundle fetch took 45 ms, 1 ms without.
    socket.setNoDelay(true);
    guardFrames(socket, o.maxFrameBytes, tooLarge);
    o.accept(socket);
  };

  const close = async (): Promise<void> => {
    webSockets?.close();
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const socket of raw) socket.destroy();
    await Promise.all(closed);
  };

  try {
    const mqttServer = o.tls === null ? net.createServer(acceptSocket) : tls.createServer(secureContextOptions(o.tls), acceptSocket);
    track(mqttServer);
    const mqtt = endpoint(o.tls === null ? 'mqtt' : 'mqtts', await listen(mqttServer, o.port, o.host));

    let ws: Endpoint | null = null;
    if (o.wsPort !== null) {
      // Anything but a WebSocket upgrade gets 426; the upgrade is accepted on any path.
      const refuse = (_req: IncomingMessage, res: http.ServerResponse): void => {
        res.writeHead(426, { upgrade: 'websocket', connection: 'close' }).end();
      };
      const httpServer = o.tls === null ? http.createServer(refuse) : https.createServer(secureContextOptions(o.tls), refuse);
      track(httpServer);
      webSockets = new WebSocketServer({ server: httpServer, maxPayload: o.maxFrameBytes, perMessageDeflate: false });
      webSockets.on('connection', (socket, req) => {
        req.socket.setNoDelay(true);
        const stream = createWebSocketStream(socket);
        guardFrames(stream, o.maxFrameBytes, tooLarge);
        o.accept(stream, req);
      });
      webSockets.on('error', (err) => log.warn({ err: err.message }, 'websocket listener error'));
      ws = endpoint(o.tls === null ? 'ws' : 'wss', await listen(httpServer, o.wsPort, o.host));
    }
    return {
      mqtt,
      ws,
      setCredentials(credentials) {
        for (const server of secure) server.setSecureContext(secureContextOptions(credentials));
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
