/**
 * Every flag of every command also as a RATCHETD_ variable, through the real executable: the
 * variables configure a broker and a daemon, a flag wins, a bad value is one usage line naming the
 * variable, and each command's --help lists every option's variable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli, stopCli, type Running } from './spawn-cli.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-env-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function started(args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  const running = await startCli(args, { env });
  cleanups.push(() => stopCli(running));
  return running;
}

const json = (line: string): Record<string, unknown> => JSON.parse(line) as Record<string, unknown>;
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
/** No RATCHETD_ variable of the test's own environment leaks into the child. */
const clean = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('RATCHETD_') && k !== 'RATCHETD_FROM_SOURCE').map((k) => [k, ''])),
  ...env,
});

describe('configuration from RATCHETD_ variables', () => {
  it('configures a broker and a daemon entirely from the environment; a flag wins over its variable', async () => {
    const dir = await tempDir();
    const broker = await started(['broker'], clean({ RATCHETD_PORT: '0', RATCHETD_DATA: join(dir, 'relay'), RATCHETD_RELAY_NAME: 'from-env', RATCHETD_METRICS: '0' }));
    const brokerReady = json(broker.readyLine);
    expect(brokerReady).toMatchObject({ event: 'ready', relayName: 'from-env' });
    expect(brokerReady['metrics']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const daemon = await started(['daemon', '--socket', join(dir, 'flag.sock')], clean({
      RATCHETD_DATA: join(dir, 'alice'),
      RATCHETD_BROKER: String(brokerReady['mqtt']),
      RATCHETD_RELAY_NAME: 'from-env',
      RATCHETD_SOCKET: join(dir, 'env.sock'),
      RATCHETD_LOG_LEVEL: 'silent',
    }));
    expect(json(daemon.readyLine)).toMatchObject({ event: 'ready', socket: join(dir, 'flag.sock') });
    // ctl finds the daemon through RATCHETD_SOCKET, and the health check passes (same relay name)
    const health = await runCli(['ctl', 'health'], { env: clean({ RATCHETD_SOCKET: join(dir, 'flag.sock') }) });
    expect(health.code).toBe(0);
    expect(json(lines(health.stdout)[0] ?? '{}')).toMatchObject({ healthy: true, brokerConnected: true });
    const stopped = await stopCli(daemon);
    expect(stopped.stderr).toBe(''); // RATCHETD_LOG_LEVEL=silent applied
  });

  it.each([
    [['broker'], { RATCHETD_PORT: 'eighty', RATCHETD_DATA: '/tmp' }, /^ratchetd broker: RATCHETD_PORT \(--port\) must be a port number 0-65535, not "eighty" \(see ratchetd broker --help\)\n$/],
    [['broker', '--port', '0', '--data', '/tmp'], { RATCHETD_PERSISTENCE: 'postgres' }, /RATCHETD_PERSISTENCE \(--persistence\) must be level, memory or redis/],
    [['daemon', '--data', '/tmp'], { RATCHETD_BROKER: 'http://x:1' }, /RATCHETD_BROKER \(--broker\) must use mqtt:\/\//],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1'], { RATCHETD_METRICS: 'host:port' }, /RATCHETD_METRICS \(--metrics\) must be HOST:PORT/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://h:1', '--key-file', 'a'], { RATCHETD_PASSPHRASE_FILE: 'b', RATCHETD_IDEMPOTENCY_RETENTION_DAYS: '0' }, /RATCHETD_IDEMPOTENCY_RETENTION_DAYS \(--idempotency-retention-days\) must be at least 1/],
    [['ctl', '--socket', '/tmp/x.sock', 'receive'], { RATCHETD_FOLLOW: 'maybe' }, /RATCHETD_FOLLOW \(--follow\) must be one of 1, true, yes, on or 0, false, no, off/],
  ])('%j with %j: one usage line naming the variable, exit 2', async (args, env, pattern) => {
    const result = await runCli(args, { env: clean(env) });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(pattern);
  });

  it('a flag of an exclusive option hides the other option\'s variable (ctl --tcp with RATCHETD_SOCKET set)', async () => {
    const result = await runCli(['ctl', '--tcp', '127.0.0.1:1', 'whoami'], { env: clean({ RATCHETD_SOCKET: '/tmp/x.sock' }) });
    expect(result.stderr).toMatch(/--tcp needs --token/); // not "give --socket or --tcp, not both"
  });

  it('ctl ignores variables of options another ctl command takes (RATCHETD_FOLLOW does not break ctl status)', async () => {
    const result = await runCli(['ctl', '--socket', '/nonexistent-ratchetd/api.sock', 'status'], { env: clean({ RATCHETD_FOLLOW: '1', RATCHETD_CONTENT_TYPE: 'application/json' }) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no daemon socket at/);
    // the same option as a flag is still a usage error
    const flag = await runCli(['ctl', '--socket', '/nonexistent-ratchetd/api.sock', 'status', '--follow'], { env: clean({}) });
    expect(flag.code).toBe(2);
  });

  it.each([['broker'], ['daemon'], ['ctl']])('ratchetd %s --help lists the variable of every option', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    const [options, environment] = result.stdout.split('\nEnvironment:');
    expect(environment).toBeDefined();
    const flags = new Set([...(options ?? '').matchAll(/^ {2}(?:-h, )?--([a-z][a-z-]*)/gm)].map((m) => m[1] ?? ''));
    flags.delete('help');
    expect(flags.size).toBeGreaterThan(3);
    for (const flag of flags) {
      const variable = `RATCHETD_${flag.toUpperCase().replace(/-/g, '_')}`;
      expect(environment, `${variable} for --${flag}`).toMatch(new RegExp(`\\n  ${variable} +--${flag}\\n`));
    }
    const listed = [...(environment ?? '').matchAll(/^ {2}RATCHETD_\S+ +--(\S+)$/gm)].map((m) => m[1]);
    expect(new Set(listed)).toEqual(flags); // and nothing the help does not describe
  });
});
