/**
 * The `--metrics HOST:PORT` listener: GET /metrics answers the registry in Prometheus text format;
 * anything else is 404 (405 for another method on /metrics). There is no authentication: bind it
 * to loopback (the default host) or a private interface. Used by `ratchetd daemon` and `ratchetd broker`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export const METRICS_PATH = '/metrics';
/** Concurrent connections accepted: a scraper or two, and a person with curl. */
const MAX_CONNECTIONS = 32;
/** A request must arrive whole within this (ms): a slow client cannot hold a connection. */
const REQUEST_TIMEOUT_MS = 10_000;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

interface EndpointLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface MetricsEndpointConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  logger: EndpointLogger;
}

export interface MetricsEndpoint {
  /** http://HOST:PORT/metrics */
  readonly url: string;
  close(): Promise<void>;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startMetricsEndpoint(config: MetricsEndpointConfig): Promise<MetricsEndpoint> {
  const { registry, logger } = config;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: metrics are at ${METRICS_PATH}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('GET only\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        logger.error({ err }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('collecting metrics failed\n');
      },
    );
  };
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, handle);
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  if (!LOOPBACK.test(config.host)) logger.warn({ host: config.host }, 'metrics served beyond loopback, without authentication');
  return {
    url: `http://${urlHost(config.host)}:${port}${METRICS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
