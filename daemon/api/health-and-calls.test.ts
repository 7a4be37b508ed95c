/**
 * The API server's health service follows its health source (the daemon: running and connected to
 * the relay), and its call observer sees every call's service, method and status, refusals included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiCallOutcome } from './call-observer.ts';
import { connectMessenger } from './client.ts';
import { FakeBackend } from './fake-backend.ts';
import { checkHealth } from './health-client.ts';
import { createApiServer, type ApiHealthSource } from './server.ts';
import { eventually, rejection, silentLogger } from './test-server.ts';
import { watchHealth } from './test-health.ts';

const TOKEN = 'correct-horse-battery-staple-0123456789';
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

class SwitchableHealth implements ApiHealthSource {
  healthy = false;
  private readonly listeners = new Set<(h: boolean) => void>();
  onChange(l: (h: boolean) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(h: boolean): void {
    this.healthy = h;
    for (const l of this.listeners) l(h);
  }
}

async function serve(options: { health?: ApiHealthSource; tcp?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-api-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const calls: ApiCallOutcome[] = [];
  const socketPath = join(dir, 'api.sock');
  const server = createApiServer({
    backend: new FakeBackend(),
    socketPath,
    logger: silentLogger,
    onCall: (c) => calls.push(c),
    ...(options.health === undefined ? {} : { health: options.health }),
    ...(options.tcp === true ? { tcp: { port: 0, token: TOKEN } } : {}),
  });
  const listening = await server.start();
  cleanups.push(() => server.close());
  return { socketPath, calls, server, tcp: listening.tcp?.address };
}

describe('grpc.health.v1 follows the health source', () => {
  it('reports NOT_SERVING while unhealthy, SERVING once healthy, and every change to a Watch stream', async () => {
    const health = new SwitchableHealth();
    const api = await serve({ health });
    expect(await checkHealth({ socketPath: api.socketPath }, 5000)).toBe('NOT_SERVING');
    expect(await checkHealth({ socketPath: api.socketPath }, 5000, 'ratchetd.v1.Messenger')).toBe('NOT_SERVING');
    const watch = watchHealth({ socketPath: api.socketPath });
    cleanups.push(() => watch.close());
    await watch.until('NOT_SERVING');
    health.set(true);
    await watch.until('SERVING');
    expect(await checkHealth({ socketPath: api.socketPath }, 5000)).toBe('SERVING');
    expect(await checkHealth({ socketPath: api.socketPath }, 5000, 'ratchetd.v1.Messenger')).toBe('SERVING');
    health.set(false);
    await watch.until('NOT_SERVING');
    expect(watch.seen).toEqual(['NOT_SERVING', 'SERVING', 'NOT_SERVING']);
  });

  it('reports NOT_SERVING after close even if the source is healthy', async () => {
    const health = new SwitchableHealth();
    health.set(true);
    const api = await serve({ health });
    const watch = watchHealth({ socketPath: api.socketPath });
    cleanups.push(() => watch.close());
    await watch.until('SERVING');
    await api.server.close();
    await watch.until('NOT_SERVING');
  });
});

describe('the call observer', () => {
  it('sees each call with its service, method and status code', async () => {
    const api = await serve();
    const client = connectMessenger({ socketPath: api.socketPath, sendStream: false });
    cleanups.push(() => client.close());
    await client.getIdentity();
    await rejection(client.send({ to: 'not a user id', body: 'x' }));
    await checkHealth({ socketPath: api.socketPath }, 5000);
    expect(api.calls).toEqual([
      { service: 'ratchetd.v1.Messenger', method: 'GetIdentity', code: 'OK' },
      { service: 'ratchetd.v1.Messenger', method: 'Send', code: 'INVALID_ARGUMENT' },
      { service: 'grpc.health.v1.Health', method: 'Check', code: 'OK' },
    ]);
  });

  it('sees calls the TCP token check refuses (UNAUTHENTICATED) and Receive streams the client cancels', async () => {
    const api = await serve({ tcp: true });
    const wrong = connectMessenger({ tcp: api.tcp ?? '', token: 'wrong-token-wrong-token-wrong-token' });
    cleanups.push(() => wrong.close());
    expect((await rejection(wrong.getStatus())).errorCode).toBe('Unauthenticated');
    expect(api.calls).toEqual([{ service: 'ratchetd.v1.Messenger', method: 'GetStatus', code: 'UNAUTHENTICATED' }]);
    // the health check over TCP carries the token too (ctl health --tcp)
    expect(await checkHealth({ tcp: api.tcp ?? '', token: TOKEN }, 5000)).toBe('SERVING');
    await expect(checkHealth({ tcp: api.tcp ?? '', token: 'wrong-token-wrong-token-wrong-token' }, 5000)).rejects.toThrow(/UNAUTHENTICATED/);
    api.calls.splice(1);

    const client = connectMessenger({ socketPath: api.socketPath });
    cleanups.push(() => client.close());
    const controller = new AbortController();
    for await (const event of client.receive({ signal: controller.signal })) {
      if (event.kind === 'caughtUp') controller.abort();
    }
    await eventually(() => api.calls.length === 2); // the server learns of the cancel a moment later
    expect(api.calls[1]).toEqual({ service: 'ratchetd.v1.Messenger', method: 'Receive', code: 'CANCELLED' });
  });
});
