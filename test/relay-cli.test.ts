/**
 * Issue 5 through the command line, as real processes: `ratchetd broker --redis` nodes sharing one
 * Redis with a daemon on each, and `ratchetd daemon --broker-auth none|password` on Mosquitto
 * started from the shipped configs; messages go through `ratchetd ctl`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startMosquitto } from './fixtures/mosquitto-process.ts';
import { startRedis } from './fixtures/redis-process.ts';
import { runCli, startCli, stopCli, type Running } from '../daemon/cli/spawn-cli.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-relay-cli-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function started(args: string[]): Promise<Running & { ready: Record<string, string> }> {
  const running = await startCli(args);
  cleanups.push(() => stopCli(running));
  return Object.assign(running, { ready: JSON.parse(running.readyLine) as Record<string, string> });
}

/** `ctl receive` until `count` messages came in; returns their texts. */
async function receiveTexts(socket: string, count: number): Promise<string[]> {
  const texts: string[] = [];
  while (texts.length < count) {
    const r = await runCli(['ctl', '--socket', socket, 'receive']);
    expect(r.code).toBe(0);
    for (const line of r.stdout.split('\n').filter((l) => l !== '')) {
      const event = JSON.parse(line) as { event: string; text?: string };
      if (event.event === 'message' && event.text !== undefined) texts.push(event.text);
    }
    if (texts.length < count) await new Promise((r) => setTimeout(r, 100));
  }
  return texts;
}

async function send(socket: string, to: string, text: string): Promise<void> {
  const r = await runCli(['ctl', '--socket', socket, 'send', to, text]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('ratchetd broker --redis', () => {
  it('two nodes on one Redis, a daemon on each: ctl messages cross the nodes both ways', async () => {
    const dir = await tempDir();
    const redis = await startRedis(dir);
    cleanups.push(() => redis.stop());
    const nodeArgs = ['broker', '--port', '0', '--redis', redis.url, '--max-queued', '1000', '--message-ttl', '86400', '--log-level', 'warn'];
    const a = await started(nodeArgs);
    const b = await started(nodeArgs);
    expect(a.ready['mqtt']).not.toBe(b.ready['mqtt']);
    const alice = await started(['daemon', '--data', join(dir, 'alice'), '--broker', a.ready['mqtt'] as string, '--socket', join(dir, 'alice.sock')]);
    const bob = await started(['daemon', '--data', join(dir, 'bob'), '--broker', b.ready['mqtt'] as string, '--socket', join(dir, 'bob.sock')]);
    await send(join(dir, 'alice.sock'), bob.ready['userId'] as string, 'via node A');
    expect(await receiveTexts(join(dir, 'bob.sock'), 1)).toEqual(['via node A']);
    await send(join(dir, 'bob.sock'), alice.ready['userId'] as string, 'via node B');
    expect(await receiveTexts(join(dir, 'alice.sock'), 1)).toEqual(['via node B']);
    for (const p of [alice, bob, a, b]) expect((await stopCli(p)).code).toBe(0);
  });

  it('refuses --persistence redis without --redis, and a non-redis URL, with a usage error', async () => {
    expect((await runCli(['broker', '--port', '0', '--persistence', 'redis'])).code).toBe(2);
    const bad = await runCli(['broker', '--port', '0', '--redis', 'http://127.0.0.1:6379']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--redis');
  });
});

describe('ratchetd daemon --broker-auth on Mosquitto', () => {
  it('none on the loopback config; password (user id as username) on the ACL config', async () => {
    const dir = await tempDir();
    const loopback = await startMosquitto({ config: 'loopback', dir: await mkdtemp(join(dir, 'mq-open-')) });
    cleanups.push(() => loopback.stop());
    const daemonArgs = (who: string, url: string, ...auth: string[]) => [
      'daemon', '--data', join(dir, who), '--broker', url, '--socket', join(dir, `${who}.sock`), '--log-level', 'warn', ...auth,
    ];

    // Anonymous: both daemons, a message.
    let alice = await started(daemonArgs('alice', loopback.url, '--broker-auth', 'none'));
    let bob = await started(daemonArgs('bob', loopback.url, '--broker-auth', 'none'));
    const aliceId = alice.ready['userId'] as string;
    const bobId = bob.ready['userId'] as string;
    await send(join(dir, 'alice.sock'), bobId, 'anonymous loopback');
    expect(await receiveTexts(join(dir, 'bob.sock'), 1)).toEqual(['anonymous loopback']);
    await stopCli(alice);
    await stopCli(bob);

    // Password: provision each user id (the recipe in broker/mosquitto/README.md), restart the daemons.
    const secured = await startMosquitto({ config: 'password', dir: await mkdtemp(join(dir, 'mq-acl-')) });
    cleanups.push(() => secured.stop());
    for (const [who, id] of [['alice', aliceId], ['bob', bobId]] as const) {
      const password = randomBytes(24).toString('base64url');
      await writeFile(join(dir, `${who}.password`), `${password}\n`, { mode: 0o600 });
      await secured.addUser({ username: id, password });
    }
    const pw = (who: string) => ['--broker-auth', 'password', '--broker-password-file', join(dir, `${who}.password`)];
    alice = await started(daemonArgs('alice', secured.url, ...pw('alice')));
    bob = await started(daemonArgs('bob', secured.url, ...pw('bob')));
    expect(alice.ready['userId']).toBe(aliceId);
    await send(join(dir, 'bob.sock'), aliceId, 'password and ACL');
    expect(await receiveTexts(join(dir, 'alice.sock'), 1)).toEqual(['password and ACL']);
    const status = JSON.parse((await runCli(['ctl', '--socket', join(dir, 'alice.sock'), 'status'])).stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ brokerConnected: true });
  });

  it('refuses password flags without --broker-auth password, and password without a file', async () => {
    const dir = await tempDir();
    const base = ['daemon', '--data', join(dir, 'd'), '--broker', 'mqtt://127.0.0.1:1'];
    const r1 = await runCli([...base, '--broker-password-file', join(dir, 'pw')]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('--broker-auth password');
    expect((await runCli([...base, '--broker-auth', 'password'])).code).toBe(2);
    expect((await runCli([...base, '--broker-auth', 'kerberos'])).code).toBe(2);
  });
});
