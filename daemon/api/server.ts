/**
 * The local API server: the Messenger service, grpc.health.v1.Health and server reflection, on a
 * Unix socket (mode 0600) and, when asked, on a TCP address where every call needs the bearer
 * token. Each listener is its own grpc.Server so that only TCP carries the token interceptor.
 * Built apart from start (no I/O until start()); close() ends open Receive streams with
 * UNAVAILABLE (SendStreams too, once the sends they started are answered), stops the listeners and
 * removes the socket file.
 *
 * Health: grpc.health.v1 answers SERVING (for "" and ratchetd.v1.Messenger) only while the server
 * is started and, when a `health` source is given (the daemon's: running and connected to its
 * relay), that source is healthy; NOT_SERVING otherwise, updated on every change (Watch streams see
 * each one). Every call's outcome can be observed (`onCall`: the API-call metrics).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, service as healthService } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { MAX_BODY_BYTES } from '../../core/limits.ts';
import type { MessengerBackend } from './backend.ts';
import { ApiError } from './errors.ts';
import { bearerTokenInterceptor } from './auth.ts';
import { MAX_SEND_FILE_CHUNK_BYTES } from './file-validate.ts';
import { callObserverInterceptor, type ApiCallObserver } from './call-observer.ts';
import { createMessengerHandlers, OpenStreams, withTolerantDeserializers, type ApiLogger } from './handlers.ts';
import { loadMessengerDefinitions, MESSENGER_SERVICE_NAME } from './proto.ts';
import { systemTimers, type Timers } from './timers.ts';
import { bindUnixSocket, removeBoundSocket, type BoundSocket } from './unix-socket.ts';

/**
 * Largest request accepted by gRPC itself: the larger of a maximal message body and a maximal
 * SendFile chunk (1 MiB), plus room for the other fields, so an oversized body or chunk still gets a
 * clear INVALID_ARGUMENT from validation.
 */
export const MAX_REQUEST_BYTES = Math.max(MAX_BODY_BYTES, MAX_SEND_FILE_CHUNK_BYTES) + 64 * 1024;
/** How long close() waits for calls in flight before cancelling them (ms). */
export const SHUTDOWN_GRACE_MS = 2_000;

export interface TcpListenConfig {
  /** Host to bind; loopback (127.0.0.1) unless set. */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Bearer token every call must present (at least 16 characters). */
  token: string;
}

export interface ApiServerConfig {
  backend: MessengerBackend;
  /** Unix socket path (created with mode 0600). */
  socketPath?: string;
  /** Opt-in TCP listener. */
  tcp?: TcpListenConfig;
  logger: ApiLogger;
  /** Test seam: the clock of the shutdown grace period and the SendStream drain window (default: the system's). */
  timers?: Timers;
  /** What the health service reports once started (default: always healthy). */
  health?: ApiHealthSource;
  /** Told of every call's service, method and final status. */
  onCall?: ApiCallObserver;
}

/** The daemon's health (daemon/engine/health.ts): running and connected to its relay. */
export interface ApiHealthSource {
  readonly healthy: boolean;
  onChange(listener: (healthy: boolean) => void): () => void;
}

export interface ApiListening {
  /** Absolute path of the Unix socket, when listening on one. */
  socket?: string;
  /** TCP address, when listening on one; `address` is usable as a grpc-js target. */
  tcp?: { host: string; port: number; address: string };
}

export interface ApiServer {
  start(): Promise<ApiListening>;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

function hostForAddress(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The reflection service's method paths (v1 and v1alpha), for the call observer's bounded labels. */
const REFLECTION_PATHS = ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'];

function bindAsync(server: grpc.Server, address: string): Promise<number> {
  return new Promise((done, fail) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? fail(err) : done(port)));
  });
}

function shutdown(server: grpc.Server, timers: Timers): Promise<void> {
  return new Promise((done) => {
    const force = timers.setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      timers.clearTimeout(force);
      done();
    });
  });
}

export function createApiServer(config: ApiServerConfig): ApiServer {
  const { backend, logger } = config;
  const timers = config.timers ?? systemTimers;
  if (config.socketPath === undefined && config.tcp === undefined) {
    throw new ApiError('InvalidArgument', 'the API needs a Unix socket path or a TCP address');
  }
  const definitions = loadMessengerDefinitions();
  const knownPaths = new Set([...[...Object.values(definitions.service), ...Object.values(healthService)].map((m) => m.path), ...REFLECTION_PATHS]);
  const observers = config.onCall === undefined ? [] : [callObserverInterceptor(knownPaths, config.onCall)];
  const tcpInterceptors = config.tcp === undefined ? observers : [...observers, bearerTokenInterceptor(config.tcp.token)];
  const streams = new OpenStreams();
  const health = new HealthImplementation({ '': 'NOT_SERVING', [MESSENGER_SERVICE_NAME]: 'NOT_SERVING' });
  const reflection = new ReflectionService(definitions.packageDefinition);
  const servers: grpc.Server[] = [];
  let bound: BoundSocket | undefined;
  let state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  let stopWatchingHealth: (() => void) | undefined;

  function setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', status);
    health.setStatus(MESSENGER_SERVICE_NAME, status);
  }

  function buildServer(interceptors: grpc.ServerInterceptor[]): grpc.Server {
    // Channelz stays on here (unlike the client): grpc-js 1.14 tracks the server's sessions for
    // forceShutdown only when it is on, and without it a call that never finishes kept close() from
    // returning (server.test.ts). High-rate sending goes through SendStream, not per-call overhead.
    const server = new grpc.Server({ interceptors, 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
    server.addService(withTolerantDeserializers(definitions.service), createMessengerHandlers(backend, logger, streams, timers));
    health.addToServer(server);
    reflection.addToServer(server);
    servers.push(server);
    return server;
  }

  async function close(): Promise<void> {
    if (state === 'closed') return;
    state = 'closed';
    stopWatchingHealth?.();
    setServing(false);
    streams.endAll(new ApiError('NotReady', 'the daemon is shutting down; reconnect later'));
    await Promise.all(servers.map((s) => shutdown(s, timers)));
    if (bound !== undefined) await removeBoundSocket(bound);
  }

  async function start(): Promise<ApiListening> {
    if (state !== 'new') throw new ApiError('NotReady', 'the API server was already started');
    state = 'starting';
    const listening: ApiListening = {};
    try {
      if (config.socketPath !== undefined) {
        const server = buildServer(observers);
        bound = await bindUnixSocket(config.socketPath, async (address) => {
          await bindAsync(server, address);
        });
        listening.socket = bound.path;
      }
      if (config.tcp !== undefined) {
        const host = config.tcp.host ?? '127.0.0.1';
        if (!LOOPBACK.test(host)) logger.warn({ host }, 'API listening beyond loopback: protected by the bearer token only, without TLS');
        const server = buildServer(tcpInterceptors);
        const port = await bindAsync(server, `${hostForAddress(host)}:${config.tcp.port}`);
        listening.tcp = { host, port, address: `${hostForAddress(host)}:${port}` };
      }
    } catch (e) {
      await close();
      throw e;
    }
    state = 'started';
    const source = config.health;
    if (source !== undefined) stopWatchingHealth = source.onChange((healthy) => setServing(healthy));
    setServing(source?.healthy ?? true);
    logger.info({ ...listening }, 'API listening');
    return listening;
  }

  return { start, close };
}
