import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli, stopCli, type Running } from './spawn-cli.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-cli-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** One line on stderr, nothing on stdout, the given exit code. */
function expectOneLineError(result: { code: number | null; stdout: string; stderr: string }, code: number, pattern: RegExp): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(lines(result.stderr)).toHaveLength(1);
  expect(result.stderr).toMatch(pattern);
}

describe('ratchetd --help', () => {
  it.each([[['--help']], [['broker', '--help']], [['daemon', '--help']], [['ctl', '--help']], [['ctl', '-h']]])('%j exits 0 with usage on stdout', async (args) => {
    const result = await runCli(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage/);
    expect(result.stderr).toBe('');
  });

  it('without a command shows the usage on stderr and fails', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Usage/);
  });
});

describe('bad flags and bad data dirs: one line on stderr, non-zero exit', () => {
  it.each([
    [['frobnicate'], 2, /unknown command "frobnicate"/],
    [['broker', '--bogus'], 2, /Unknown option '--bogus'/],
    [['broker', '--port', 'eighty', '--data', '/tmp'], 2, /--port must be a port number/],
    [['broker', '--port', '70000', '--data', '/tmp'], 2, /--port must be a port number/],
    [['broker', '--port', '0'], 2, /--data DIR is required/],
    [['broker', '--port', '0', '--data', '/tmp', '--persistence', 'redis'], 2, /--redis URL and --persistence redis go together/],
    [['broker', '--port', '0', '--data', '/tmp', '--persistence', 'postgres'], 2, /--persistence must be level, memory or redis/],
    [['broker', '--port', '0', '--data', '/nonexistent-ratchetd/a/b'], 1, /does not exist/],
    [['daemon', '--broker', 'mqtt://127.0.0.1:1'], 2, /--data DIR is required/],
    [['daemon', '--data', '/tmp'], 2, /--broker URL is required/],
    [['daemon', '--data', '/tmp', '--broker', 'http://x:1'], 2, /mqtt:\/\//],
    [['daemon', '--data', '/tmp', '--broker', 'not a url'], 2, /--broker must be a URL/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1', '--key-file', 'a', '--passphrase-file', 'b'], 2, /not both/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1', '--tcp', 'host:port'], 2, /--tcp must be HOST:PORT/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1', '--token-file', 'x'], 2, /only makes sense with --tcp/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1', '--idempotency-retention-days', '0'], 2, /at least 1/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1', '--idempotency-retention-days', 'week'], 2, /non-negative integer/],
    [['daemon', '--data', '/nonexistent-ratchetd/a/b', '--broker', 'mqtt://h:1'], 1, /does not exist/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1', '--socket', '/nonexistent-ratchetd/api.sock'], 1, /directory \/nonexistent-ratchetd for the socket does not exist/],
    [['ctl', 'whoami'], 2, /give --socket PATH/],
    [['ctl', '--socket', '/nonexistent-ratchetd/api.sock', 'whoami'], 1, /no daemon socket at/],
    [['ctl', '--socket', '/tmp/x.sock', 'dance'], 2, /unknown ctl command "dance"/],
    [['ctl', '--socket', '/tmp/x.sock'], 2, /missing command/],
    [['ctl', '--socket', '/tmp/x.sock', 'whoami', 'extra'], 2, /usage: ratchetd ctl whoami/],
    [['ctl', '--socket', '/tmp/x.sock', 'status', '--follow'], 2, /only apply to receive/],
    [['ctl', '--tcp', '127.0.0.1:1', 'whoami'], 2, /needs --token/],
  ])('%j', async (args, code, pattern) => {
    expectOneLineError(await runCli(args, { env: { RATCHETD_SOCKET: '' } }), code, pattern);
  });

  it('refuses a data dir that is a file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), 'x');
    expectOneLineError(await runCli(['broker', '--port', '0', '--data', join(dir, 'file')]), 1, /is not a directory/);
  });
});

describe('ratchetd broker', () => {
  it('prints exactly one JSON ready line, logs to stderr, and exits 0 on SIGTERM', async () => {
    const dir = await tempDir();
    const running = await startCli(['broker', '--port', '0', '--data', join(dir, 'relay')]);
    cleanups.push(() => stopCli(running));
    const ready = JSON.parse(running.readyLine) as { event: string; mqtt: string };
    expect(ready.event).toBe('ready');
    expect(ready.mqtt).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(ready.mqtt).port)).toBeGreaterThan(0);
    const result = await stopCli(running);
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toEqual([running.readyLine]);
    expect(result.stderr).toMatch(/"msg":"stopped"/);
  });

  it('reports a port in use in one line', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => holder.close(r)));
    const port = (holder.address() as { port: number }).port;
    const result = await runCli(['broker', '--port', String(port), '--persistence', 'memory', '--log-level', 'silent']);
    expectOneLineError(result, 1, new RegExp(`port ${port} is already in use`));
  });

  it('runs with in-memory persistence and no data dir', async () => {
    const running: Running = await startCli(['broker', '--port', '0', '--persistence', 'memory']);
    cleanups.push(() => stopCli(running));
    expect(JSON.parse(running.readyLine)).toMatchObject({ event: 'ready' });
    expect((await stopCli(running)).code).toBe(0);
  });
});
