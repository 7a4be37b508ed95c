/**
 * One webhook attempt: the message as JSON (json.ts's shape), signed (webhook-signature.ts), POSTed
 * over a pool of keep-alive connections (undici), redirects not followed. Resolves with undefined
 * for a 2xx, else with why it failed ("HTTP 503", "ECONNREFUSED", "timeout"); never rejects.
 */
import { Agent, request } from 'undici';
import type { Timers } from '../api/timers.ts';
import type { InboundMessage } from '../engine/types.ts';
import { messageJson } from './json.ts';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './webhook-signature.ts';

/** How long an idle connection to the receiver is kept for the next POST (ms). */
const KEEP_ALIVE_MS = 10_000;

export interface WebhookPosterConfig {
  url: string;
  secret: Uint8Array;
  /** The clock of the signed timestamp. */
  timers: Timers;
  /** Deadline of one attempt's answer, on the real clock (ms). */
  requestTimeoutMs: number;
  connections: number;
}

export interface WebhookPoster {
  post(m: InboundMessage): Promise<string | undefined>;
  /** Cancels the attempts in flight (they resolve as failed). */
  abortAll(): void;
  close(): Promise<void>;
}

export function createWebhookPoster(config: WebhookPosterConfig): WebhookPoster {
  const agent = new Agent({ connections: config.connections, keepAliveTimeout: KEEP_ALIVE_MS });
  const inFlight = new Set<AbortController>();
  return {
    async post(m) {
      const body = JSON.stringify(messageJson(m));
      const timestamp = String(Math.floor(config.timers.now() / 1000));
      const abort = new AbortController();
      inFlight.add(abort);
      try {
        const res = await request(config.url, {
          method: 'POST',
          dispatcher: agent,
          signal: abort.signal,
          headersTimeout: config.requestTimeoutMs,
          bodyTimeout: config.requestTimeoutMs,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'ratchetd-webhook/1',
            'ratchetd-message-id': m.messageId,
            [TIMESTAMP_HEADER]: timestamp,
            [SIGNATURE_HEADER]: signWebhook(config.secret, timestamp, body),
          },
          body,
        });
        await res.body.dump();
        return res.statusCode >= 200 && res.statusCode < 300 ? undefined : `HTTP ${res.statusCode}`;
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
        return typeof code === 'string' ? code : ((e as Error).name ?? 'error');
      } finally {
        inFlight.delete(abort);
      }
    },
    abortAll() {
      for (const a of inFlight) a.abort();
    },
    async close() {
      await agent.close().catch(() => undefined);
    },
  };
}
