/**
 * The HTTP API (`ratchetd daemon --http HOST:PORT`): JSON over HTTP/1.1 on fastify, serving the
 * same DaemonApi as the gRPC server through the same request parsers and error table — a mapping
 * of the gRPC service, not a second engine. Loopback unless told otherwise; every request, the
 * OpenAPI document and unknown paths included, needs `Authorization: Bearer <token>` (compared in
 * constant time, daemon/api/auth.ts); bodies are JSON (`application/json`) up to HTTP_BODY_LIMIT,
 * but for POST /v1/files, whose body is the file, streamed (file-routes.ts).
 * Errors are `{code, errorCode, message}` with the HTTP status of their gRPC status. Built apart
 * from start (no I/O until start()); close() ends long polls and event streams, lets requests in
 * flight finish and stops listening.
 */
import { fastifySSE } from '@fastify/sse';
import fastifySwagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import { status as GrpcStatus } from '@grpc/grpc-js';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { isCodedError } from '../../core/errors.ts';
import { isAuthorized } from '../api/auth.ts';
import { ApiError } from '../api/errors.ts';
import { OpenStreams, type ApiLogger } from '../api/handlers.ts';
import { mapError, mapHttpError } from '../api/status-codes.ts';
import { systemTimers, type Timer, type Timers } from '../api/timers.ts';
import { MIN_TOKEN_LENGTH } from '../api/token-file.ts';
import type { DaemonApi } from '../engine/types.ts';
import { registerAlertRoutes } from './alert-routes.ts';
import { HttpError } from './errors.ts';
import { registerFileRoutes } from './file-routes.ts';
import { registerRoutes } from './routes.ts';
import { ROUTE_SCHEMAS, SHARED_SCHEMAS } from './schemas.ts';

/** Largest JSON body: a maximal message body in base64 (4/3 × 256 KiB) plus room for the other fields. */
export const HTTP_BODY_LIMIT = 512 * 1024;
/** Largest alert notification: Alertmanager sends every alert of a group in one (thousands fit). */
export const ALERT_BODY_LIMIT = 4 * 1024 * 1024;
/** Comment lines on an idle event stream, so proxies and clients see it alive (ms). */
export const SSE_HEARTBEAT_MS = 15_000;
/** How long close() waits for requests in flight before it cuts their connections (ms). */
export const SHUTDOWN_GRACE_MS = 2_000;
/** Where the OpenAPI document is served. */
export const OPENAPI_PATH = '/v1/openapi.json';

export interface HttpServerConfig {
  backend: DaemonApi;
  /** Host to bind; loopback (127.0.0.1) unless set. */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Bearer token every request must present (at least 16 characters). */
  token: string;
  logger: ApiLogger;
  /** Test seam: the clock of long polls (default: the system's). */
  timers?: Timers;
}

export interface HttpListening {
  host: string;
  port: number;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
}

export interface HttpServer {
  start(): Promise<HttpListening>;
  close(): Promise<void>;
  /** The routes served, as "METHOD /path" (fastify's path syntax): the OpenAPI test compares them. */
  routes(): string[];
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The first schema violation, naming an unknown field (fastify's own message does not). */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  const unknown = first?.keyword === 'additionalProperties' ? (first.params as { additionalProperty?: unknown }).additionalProperty : undefined;
  if (typeof unknown === 'string') {
    const where = `${err.validationContext ?? 'body'}${first?.instancePath ?? ''}`;
    return `${where} has an unknown field ${JSON.stringify(unknown.slice(0, 64))}`;
  }
  return err.message;
}

/** What fastify itself refuses (before a handler runs) as one of our coded errors. */
function asCodedError(thrown: FastifyError): unknown {
  if (isCodedError(thrown as unknown)) return thrown;
  const err = thrown;
  if (err.validation !== undefined) return new ApiError('InvalidArgument', validationMessage(err));
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError('BodyTooLarge', 'the request body is larger than this endpoint accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError('UnsupportedMediaType', 'send the body as JSON (Content-Type: application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError('MalformedJson', 'the body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError('MalformedJson', 'the body is not valid JSON (or holds __proto__ or constructor keys)');
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return new HttpError('MalformedRequest', `the request cannot be read (${err.code ?? err.statusCode})`);
  return err;
}

/** A body schema of raw bytes (POST /v1/files): the handler streams it; there is nothing to validate. */
const isBinaryBody = (schema: object, httpPart: string | undefined): boolean => httpPart === 'body' && (schema as { format?: unknown }).format === 'binary';

/**
 * Validators: request bodies exactly as sent (no type coercion, no fields dropped or defaulted);
 * query strings coerced from text to the integers their schemas name.
 */
function validatorCompiler(): (route: { schema: object; httpPart?: string }) => (data: unknown) => boolean {
  const base = { allErrors: false, strict: false, removeAdditional: false, useDefaults: false } as const;
  const exact = new Ajv({ ...base, coerceTypes: false });
  const query = new Ajv({ ...base, coerceTypes: true });
  for (const s of SHARED_SCHEMAS) {
    exact.addSchema(s);
    query.addSchema(s);
  }
  return ({ schema, httpPart }) => (isBinaryBody(schema, httpPart) ? () => true : ((httpPart === 'querystring' ? query : exact).compile(schema) as (data: unknown) => boolean));
}

/** Open connections and their requests in flight, so that close() neither waits for idle ones nor cuts busy ones. */
interface Connections {
  readonly sockets: Map<Socket, number>;
  closing: boolean;
}

function trackConnections(app: FastifyInstance, connections: Connections): void {
  app.server.on('connection', (socket: Socket) => {
    connections.sockets.set(socket, 0);
    socket.once('close', () => connections.sockets.delete(socket));
  });
  app.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket;
    connections.sockets.set(socket, (connections.sockets.get(socket) ?? 0) + 1);
    reply.raw.once('close', () => {
      if (connections.sockets.has(socket)) connections.sockets.set(socket, Math.max(0, (connections.sockets.get(socket) ?? 1) - 1));
    });
  });
  // Answers given while closing end their connection (Node would keep it open until the client leaves).
  app.addHook('onSend', async (_request, reply) => {
    if (connections.closing) void reply.header('connection', 'close');
  });
}

async function buildApp(config: HttpServerConfig, streams: OpenStreams, timers: Timers, routes: string[], connections: Connections): Promise<FastifyInstance> {
  const { backend, logger } = config;
  // Fastify's own 503 while closing has its own body shape: ours comes from the onRequest hook below.
  const app = Fastify({ logger: false, bodyLimit: HTTP_BODY_LIMIT, exposeHeadRoutes: false, return503OnClosing: false });
  trackConnections(app, connections);
  app.setValidatorCompiler(validatorCompiler());
  app.removeContentTypeParser(['text/plain']);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push(`${method} ${route.url}`);
  });
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'ratchetd HTTP API', version: '1', description: 'JSON over HTTP for one ratchetd daemon: the gRPC Messenger service mapped one to one, plus alert intake.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
  });
  await app.register(fastifySSE, { heartbeatInterval: SSE_HEARTBEAT_MS });

  const onFailure = (route: string, e: unknown): void => {
    const mapped = mapError(e);
    if (mapped.code === GrpcStatus.INTERNAL || mapped.code === GrpcStatus.DATA_LOSS) logger.error({ err: e, route }, 'HTTP API call failed');
    else logger.debug({ route, code: mapped.errorCode }, 'HTTP API call refused');
  };

  app.addHook('onRequest', async (request) => {
    if (connections.closing) throw new ApiError('NotReady', 'the daemon is shutting down; retry later');
    if (!isAuthorized(request.headers.authorization, config.token)) {
      throw new ApiError('Unauthenticated', request.headers.authorization === undefined ? 'missing Authorization: Bearer <token>' : 'invalid bearer token');
    }
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = asCodedError(err);
    onFailure(`${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`, e);
    const { status, body } = mapHttpError(e);
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  });
  app.setNotFoundHandler(async (request) => {
    throw new HttpError('RouteNotFound', `no route ${request.method} ${request.url.split('?')[0]}`);
  });

  registerRoutes(app, { backend, timers, streams, onFailure });
  await app.register(async (alerts) => registerAlertRoutes(alerts, backend), { bodyLimit: ALERT_BODY_LIMIT } as object);
  await app.register(async (files) => registerFileRoutes(files, { backend, streams, onFailure }));
  app.get(OPENAPI_PATH, { schema: ROUTE_SCHEMAS.openapi }, async () => app.swagger());
  return app;
}

export function createHttpServer(config: HttpServerConfig): HttpServer {
  if (config.token.length < MIN_TOKEN_LENGTH) throw new ApiError('Unauthenticated', `HTTP API token must be at least ${MIN_TOKEN_LENGTH} characters`);
  const timers = config.timers ?? systemTimers;
  const streams = new OpenStreams();
  const routes: string[] = [];
  const connections: Connections = { sockets: new Map(), closing: false };
  let app: FastifyInstance | undefined;
  let state: 'new' | 'started' | 'closed' = 'new';

  return {
    async start() {
      if (state !== 'new') throw new ApiError('NotReady', 'the HTTP server was already started');
      state = 'started';
      app = await buildApp(config, streams, timers, routes, connections);
      const host = config.host ?? '127.0.0.1';
      if (!LOOPBACK.test(host)) config.logger.warn({ host }, 'HTTP API listening beyond loopback: protected by the bearer token only, without TLS');
      try {
        await app.listen({ host, port: config.port });
      } catch (e) {
        await app.close().catch(() => undefined);
        throw e;
      }
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      config.logger.info({ url }, 'HTTP API listening');
      return { host, port, url };
    },
    async close() {
      if (state === 'closed') return;
      const was = state;
      state = 'closed';
      if (was === 'new' || app === undefined) return;
      connections.closing = true;
      streams.endAll(new ApiError('NotReady', 'the daemon is shutting down; reconnect later'));
      // Node's server.close() waits for every connection, even one that never sent a request.
      for (const [socket, active] of connections.sockets) if (active === 0) socket.destroy();
      const closed = app.close();
      let grace: Timer | undefined;
      const overdue = await Promise.race([closed.then(() => false), new Promise<boolean>((resolve) => (grace = timers.setTimeout(() => resolve(true), SHUTDOWN_GRACE_MS)))]);
      timers.clearTimeout(grace);
      if (overdue) app.server.closeAllConnections();
      await closed;
    },
    routes: () => routes,
  };
}
