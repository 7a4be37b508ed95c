/**
 * Test support (used by *.test.ts only): an HTTP API server on a free loopback port over any
 * DaemonApi (a FakeBackend unless given), a fetch helper that sends the token and JSON, and an SSE
 * reader that hands back each event as it arrives.
 */
import pino from 'pino';
import type { DaemonApi } from '../engine/types.ts';
import { FakeBackend } from '../api/fake-backend.ts';
import type { Timers } from '../api/timers.ts';
import { createHttpServer, type HttpServer } from './server.ts';

export const silentLogger = pino({ level: 'silent' });
export const TOKEN = 'http-test-token-0123456789abcdef';

export interface TestHttp<B extends DaemonApi> {
  backend: B;
  server: HttpServer;
  url: string;
  /** fetch with the bearer token (unless headers say otherwise) and a JSON body. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestHttp<B extends DaemonApi = FakeBackend>(options: { backend?: B; timers?: Timers } = {}): Promise<TestHttp<B>> {
  const backend = (options.backend ?? new FakeBackend()) as B;
  const server = createHttpServer({ backend, port: 0, token: TOKEN, logger: silentLogger, ...(options.timers === undefined ? {} : { timers: options.timers }) });
  const { url } = await server.start();
  const call: TestHttp<B>['call'] = async (method, path, body, headers) => {
    const h: Record<string, string> = { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers };
    for (const [k, v] of Object.entries(h)) if (v === '') delete h[k];
    const res = await fetch(url + path, { method, headers: h, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
  };
  return { backend, server, url, call, close: () => server.close() };
}

/** An open GET /v1/events: events parsed from `data:` lines (with the `id:` before them), in order. */
export interface SseReader {
  status: number;
  contentType: string | null;
  /** Resolves with the next event (waits for it); rejects when the stream ends first. */
  next(): Promise<{ id?: string; data: Record<string, unknown> }>;
  /** Reads events until `pred` holds for one, returning all read. */
  until(pred: (e: { id?: string; data: Record<string, unknown> }) => boolean): Promise<Array<{ id?: string; data: Record<string, unknown> }>>;
  /** Resolves when the server has ended the stream. */
  ended(): Promise<void>;
  close(): void;
}

export async function openSse(url: string, path: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const abort = new AbortController();
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let done = false;
  const pending: Array<{ id?: string; data: Record<string, unknown> }> = [];
  const readMore = async (): Promise<void> => {
    if (reader === undefined || done) throw new Error('the event stream ended');
    const chunk = await reader.read();
    if (chunk.done) {
      done = true;
      throw new Error('the event stream ended');
    }
    buffer += decoder.decode(chunk.value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: string | undefined;
      let data: string | undefined;
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data = line.slice(6);
      }
      if (data !== undefined) pending.push({ ...(id === undefined ? {} : { id }), data: JSON.parse(data) as Record<string, unknown> });
    }
  };
  const next = async (): Promise<{ id?: string; data: Record<string, unknown> }> => {
    while (pending.length === 0) await readMore();
    return pending.shift() as { id?: string; data: Record<string, unknown> };
  };
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    next,
    async until(pred) {
      const seen = [];
      for (;;) {
        const e = await next();
        seen.push(e);
        if (pred(e)) return seen;
      }
    },
    async ended() {
      for (;;) {
        try {
          await readMore();
        } catch {
          return;
        }
      }
    },
    close: () => abort.abort(),
  };
}
