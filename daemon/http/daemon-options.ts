/**
 * The `ratchetd daemon` flags of the HTTP API and the webhook, and the parts they start: kept out
 * of daemon-command.ts, which only calls parseHttpFlags, prepareHttpFeatures and the returned
 * start/close. The HTTP and webhook modules (fastify, undici) are loaded only when a flag asks for
 * them, so a daemon without them starts as fast as before.
 */
import { join, resolve } from 'node:path';
import type { ApiLogger } from '../api/handlers.ts';
import { loadOrCreateTokenFile } from '../api/token-file.ts';
import { CliFailure, parseHostPort, stringOption, UsageError } from '../cli/args.ts';
import type { DaemonApi } from '../engine/types.ts';

export const HTTP_OPTIONS = {
  http: { type: 'string' },
  'http-token-file': { type: 'string' },
  webhook: { type: 'string' },
  'webhook-secret-file': { type: 'string' },
} as const;

export const HTTP_HELP = `  --http HOST:PORT         also serve the HTTP API (JSON; PORT alone = 127.0.0.1:PORT; port 0 =
                           a free one); every request needs "Authorization: Bearer <token>";
                           the OpenAPI document is GET /v1/openapi.json
  --http-token-file F      the HTTP bearer token; created with a random token (mode 0600) if
                           missing (default DIR/http.token)
  --webhook URL            POST every received message to URL as JSON, signed (ratchetd-signature:
                           sha256=HMAC of "<ratchetd-timestamp>.<body>"); acked after a 2xx,
                           retried with backoff for an hour, then kept as a dead letter (ctl
                           dead-letters, ctl redrive). API clients then read but do not ack
  --webhook-secret-file F  the webhook's HMAC key: the file's contents without a trailing newline
`;

export interface HttpFlags {
  http?: { host: string; port: number; tokenFile?: string };
  webhook?: { url: string; secretFile: string };
}

type Values = Record<string, string | boolean | undefined>;

/** Checks the flags (usage errors only; no I/O). */
export function parseHttpFlags(values: Values): HttpFlags {
  const out: HttpFlags = {};
  const http = stringOption(values, 'http');
  const tokenFile = stringOption(values, 'http-token-file');
  if (tokenFile !== undefined && http === undefined) throw new UsageError('--http-token-file only makes sense with --http');
  if (http !== undefined) out.http = { ...parseHostPort(http, '--http'), ...(tokenFile === undefined ? {} : { tokenFile }) };
  const webhook = stringOption(values, 'webhook');
  const secretFile = stringOption(values, 'webhook-secret-file');
  if (webhook === undefined && secretFile !== undefined) throw new UsageError('--webhook-secret-file only makes sense with --webhook');
  if (webhook !== undefined) {
    if (secretFile === undefined) throw new UsageError('--webhook needs --webhook-secret-file F (the HMAC key that signs each POST)');
    let url: URL;
    try {
      url = new URL(webhook);
    } catch {
      throw new UsageError(`--webhook must be an http:// or https:// URL, not "${webhook}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--webhook must use http:// or https://, not ${url.protocol}//`);
    out.webhook = { url: url.href, secretFile };
  }
  return out;
}

export interface HttpFeatures {
  /** The DaemonApi both API servers serve (with a webhook: acks reserved to it). */
  api: DaemonApi;
  /** Starts the HTTP server (beside the engine's start: until it runs, calls answer 503); resolves with its URL. */
  listen(): Promise<{ http?: string }>;
  /** Starts the webhook, once the engine runs. */
  startWebhook(): Promise<void>;
  close(): Promise<void>;
}

/** Reads the token and secret files and builds what the flags ask for (nothing listens yet). */
export async function prepareHttpFeatures(flags: HttpFlags, engineApi: DaemonApi, dataDir: string, logger: ApiLogger): Promise<HttpFeatures> {
  let api = engineApi;
  let delivery: import('./webhook-delivery.ts').WebhookDelivery | undefined;
  if (flags.webhook !== undefined) {
    const [{ readWebhookSecret }, { createWebhookDelivery }, { webhookOwnedApi }] = await Promise.all([
      import('./webhook-signature.ts'),
      import('./webhook-delivery.ts'),
      import('./webhook-backend.ts'),
    ]);
    const secretFile = resolve(flags.webhook.secretFile);
    const secret = await readWebhookSecret(secretFile).catch((e: unknown) => {
      throw new CliFailure(`cannot use the webhook secret file ${secretFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    });
    if (secret.length < 16) logger.warn({ bytes: secret.length }, 'the webhook secret is shorter than 16 bytes: easy to guess');
    delivery = createWebhookDelivery(engineApi, { url: flags.webhook.url, secret, logger });
    api = webhookOwnedApi(engineApi, delivery);
  }
  let server: import('./server.ts').HttpServer | undefined;
  if (flags.http !== undefined) {
    const tokenFile = resolve(flags.http.tokenFile ?? join(dataDir, 'http.token'));
    const loaded = await loadOrCreateTokenFile(tokenFile).catch((e: unknown) => {
      throw new CliFailure(`cannot use the HTTP token file ${tokenFile}: ${(e as Error).message}`);
    });
    if (loaded.created) logger.info({ tokenFile }, 'created a new HTTP API token file');
    const { createHttpServer } = await import('./server.ts');
    server = createHttpServer({ backend: api, host: flags.http.host, port: flags.http.port, token: loaded.token, logger });
  }
  return {
    api,
    async listen() {
      const listening = await server?.start();
      return listening === undefined ? {} : { http: listening.url };
    },
    async startWebhook() {
      await delivery?.start();
    },
    async close() {
      await delivery?.close();
      await server?.close();
    },
  };
}
