/**
 * `ratchetd ctl health` and grpc.health.v1 on a real daemon: healthy while it serves and is connected
 * to its relay; when the broker stops, the health Watch stream reports NOT_SERVING and ctl health
 * exits 1; when the broker is back on the same port, SERVING again and exit 0. Event-driven: the
 * test waits for the status the daemon pushes, never for a time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchHealth } from '../daemon/api/test-health.ts';
import { runCli, startCli, stopCli, type Running } from '../daemon/cli/spawn-cli.ts';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-health-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function started(args: string[]): Promise<Running> {
  const running = await startCli([...args, '--log-level', 'warn']);
  cleanups.push(() => stopCli(running));
  return running;
}

async function health(socket: string): Promise<{ code: number | null; json: Record<string, unknown> }> {
  const result = await runCli(['ctl', '--socket', socket, 'health']);
  const lines = result.stdout.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  return { code: result.code, json: JSON.parse(lines[0] ?? '{}') as Record<string, unknown> };
}

describe('ratchetd ctl health and grpc.health.v1', () => {
  it('follow the relay connection: 0 / SERVING, broker gone → 1 / NOT_SERVING, broker back → 0 / SERVING', async () => {
    const dir = await tempDir();
    const relayData = join(dir, 'relay');
    const broker = await started(['broker', '--port', '0', '--data', relayData]);
    const url = (JSON.parse(broker.readyLine) as { mqtt: string }).mqtt;
    const socket = join(dir, 'alice.sock');
    await started(['daemon', '--data', join(dir, 'alice'), '--broker', url, '--socket', socket]);

    expect(await health(socket)).toEqual({ code: 0, json: { healthy: true, status: 'SERVING', brokerConnected: true, brokerUrl: url } });
    const watch = watchHealth({ socketPath: socket });
    cleanups.push(() => watch.close());
    await watch.until('SERVING');

    await stopCli(broker);
    await watch.until('NOT_SERVING');
    const down = await health(socket);
    expect(down.code).toBe(1);
    expect(down.json).toMatchObject({ healthy: false, status: 'NOT_SERVING', brokerConnected: false });

    await started(['broker', '--port', new URL(url).port, '--data', relayData]);
    await watch.until('SERVING');
    expect(await health(socket)).toEqual({ code: 0, json: { healthy: true, status: 'SERVING', brokerConnected: true, brokerUrl: url } });
  });

  it('exits 1 with one JSON line when no daemon answers, and 2 for a usage mistake', async () => {
    const dir = await tempDir();
    const gone = await health(join(dir, 'nobody.sock'));
    expect(gone.code).toBe(1);
    expect(gone.json).toEqual({ healthy: false, error: `no daemon socket at ${join(dir, 'nobody.sock')} (is the daemon running?)` });
    const usage = await runCli(['ctl', '--socket', join(dir, 'x.sock'), 'health', 'extra']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/usage: ratchetd ctl health/);
    const timeout = await runCli(['ctl', '--socket', join(dir, 'x.sock'), 'health', '--timeout', 'soon']);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toMatch(/--timeout must be a non-negative integer/);
  });
});
