/**
 * Test support (used by *.test.ts only): an API server over a FakeBackend on a Unix socket in a
 * fresh temp dir, a silent logger, and cleanup.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ApiCallError, connectMessenger, type MessengerClient } from './client.ts';
import { FakeBackend } from './fake-backend.ts';
import { createApiServer, type ApiListening, type ApiServer, type TcpListenConfig } from './server.ts';
import type { Timers } from './timers.ts';

export const silentLogger = pino({ level: 'silent' });

export interface TestApi {
  dir: string;
  backend: FakeBackend;
  server: ApiServer;
  listening: ApiListening;
  socketPath: string;
  client: MessengerClient;
  cleanup(): Promise<void>;
}

export async function startTestApi(options: { tcp?: Omit<TcpListenConfig, 'port'> & { port?: number }; serverTimers?: Timers } = {}): Promise<TestApi> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-api-'));
  const socketPath = join(dir, 'api.sock');
  const backend = new FakeBackend();
  const tcp = options.tcp === undefined ? undefined : { port: 0, ...options.tcp };
  const server = createApiServer({ backend, socketPath, logger: silentLogger, ...(tcp === undefined ? {} : { tcp }), ...(options.serverTimers === undefined ? {} : { timers: options.serverTimers }) });
  const listening = await server.start();
  const client = connectMessenger({ socketPath });
  const cleanup = async (): Promise<void> => {
    client.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  };
  return { dir, backend, server, listening, socketPath, client, cleanup };
}

/** Polls `check` on the event loop until it holds (no timing assertions: the test timeout bounds it). */
export async function eventually(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

/** The ApiCallError a call fails with (anything else, or success, fails the test). */
export async function rejection(p: Promise<unknown>): Promise<ApiCallError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiCallError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}
