import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

async function started(args: string[]): Promise<Running> {
  const running = await startCli(args);
  cleanups.push(() => stopCli(running));
  return running;
}

function json(line: string): Record<string, unknown> {
  return JSON.parse(line) as Record<string, unknown>;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

async function receiveUntil(socket: string, count: number): Promise<Record<string, unknown>[]> {
  const got: Record<string, unknown>[] = [];
  while (got.length < count) {
    const result = await runCli(['ctl', '--socket', socket, 'receive']);
    expect(result.code).toBe(0);
    got.push(...lines(result.stdout).map(json));
  }
  return got;
}

describe('ratchetd daemon and ctl, as real processes through a real broker', () => {
  it('two daemons exchange messages both ways through ctl; one ready line each; clean SIGTERM', async () => {
    const dir = await tempDir();
    const broker = await started(['broker', '--port', '0', '--data', join(dir, 'relay')]);
    const brokerUrl = json(broker.readyLine)['mqtt'] as string;
    const alice = await started(['daemon', '--data', join(dir, 'alice'), '--broker', brokerUrl, '--socket', join(dir, 'alice.sock')]);
    const bob = await started([
      'daemon', '--data', join(dir, 'bob'), '--broker', brokerUrl, '--socket', join(dir, 'bob.sock'),
      '--tcp', '0', '--token-file', join(dir, 'bob.token'), '--log-level', 'warn',
    ]);
    const aliceReady = json(alice.readyLine);
    const bobReady = json(bob.readyLine);
    expect(aliceReady).toMatchObject({ event: 'ready', socket: join(dir, 'alice.sock') });
    expect(aliceReady['userId']).toMatch(/^[a-z2-7]{32}$/);
    expect(bobReady['tcp']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await stat(join(dir, 'alice.sock'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'bob.token'))).mode & 0o777).toBe(0o600);

    const aliceSock = join(dir, 'alice.sock');
    const sent = await runCli(['ctl', '--socket', aliceSock, 'send', bobReady['userId'] as string, 'hello bob']);
    expect(sent.code).toBe(0);
    const [toBob] = await receiveUntil(join(dir, 'bob.sock'), 1);
    expect(toBob).toMatchObject({ event: 'message', from: aliceReady['userId'], text: 'hello bob', messageId: json(sent.stdout)['messageId'] });

    const token = (await readFile(join(dir, 'bob.token'), 'utf8')).trim();
    const reply = await runCli(['ctl', '--tcp', bobReady['tcp'] as string, '--token', token, 'send', aliceReady['userId'] as string, 'hi alice']);
    expect(reply.code).toBe(0);
    const [toAlice] = await receiveUntil(aliceSock, 1);
    expect(toAlice).toMatchObject({ event: 'message', from: bobReady['userId'], text: 'hi alice' });

    const contacts = json((await runCli(['ctl', '--socket', aliceSock, 'contacts'])).stdout) as { contacts: { userId: string; safetyNumber: string }[] };
    const bobContact = contacts.contacts.find((c) => c.userId === bobReady['userId']);
    const verified = await runCli(['ctl', '--socket', aliceSock, 'verify', bobContact?.userId ?? '', bobContact?.safetyNumber ?? '']);
    expect(json(verified.stdout)).toMatchObject({ trust: 'verified' });

    for (const running of [alice, bob, broker]) {
      const finished = await stopCli(running);
      expect(finished.code).toBe(0);
      expect(lines(finished.stdout)).toEqual([running.readyLine]);
    }
    await expect(stat(aliceSock)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to start a second daemon on a socket in use, in one line', async () => {
    const dir = await tempDir();
    const broker = await started(['broker', '--port', '0', '--persistence', 'memory']);
    const brokerUrl = json(broker.readyLine)['mqtt'] as string;
    await started(['daemon', '--data', join(dir, 'a'), '--broker', brokerUrl, '--socket', join(dir, 'api.sock')]);
    const second = await runCli(['daemon', '--data', join(dir, 'b'), '--broker', brokerUrl, '--socket', join(dir, 'api.sock'), '--log-level', 'silent']);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(lines(second.stderr)).toHaveLength(1);
    expect(second.stderr).toMatch(/is in use by a running server/);
  });
});

describe('npm start (start-embedded)', () => {
  it('prints one JSON ready line with the broker, the user id and the socket, then the ctl commands; exits 0 on SIGTERM', async () => {
    const dir = await tempDir();
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
    const script = fileURLToPath(new URL('./start-embedded.ts', import.meta.url));
    const child = spawn(process.execPath, [tsx, script, '--port', '0', '--data', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    });
    while (!stdout.includes('receive --follow')) {
      if (child.exitCode !== null) throw new Error(`start-embedded exited early: ${stdout}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const jsonLines = lines(stdout).filter((l) => l.startsWith('{'));
    expect(jsonLines).toHaveLength(1);
    const ready = json(jsonLines[0] ?? '{}');
    expect(ready).toMatchObject({ event: 'ready', socket: join(dir, 'state', 'daemon', 'api.sock') });
    expect(ready['mqtt']).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(stdout).toContain(`ratchetd daemon --data`);
    expect(stdout).toContain(`--broker ${ready['mqtt'] as string}`);
    const whoami = await runCli(['ctl', '--socket', ready['socket'] as string, 'whoami']);
    expect(json(whoami.stdout)['userId']).toBe(ready['userId']);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
