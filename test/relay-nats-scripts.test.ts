/**
 * broker/nats/render-cluster.sh and add-user.sh: what they write (a config nats-server accepts, one
 * line per user with the relay's permissions) and what they refuse (a bad node, user id or
 * password: a clear message, a usage exit code, and the users file unchanged).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { NATS_SERVER, NATS_SHIPPED_DIR } from './fixtures/nats-cluster.ts';

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function script(name: string, args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run('bash', [path.join(NATS_SHIPPED_DIR, name), ...args]);
    return { code: 0, stderr };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: err.code ?? -1, stderr: err.stderr ?? '' };
  }
}

const NODES = ['127.0.0.1:14222:16222:11883:18222', '127.0.0.1:24222:26222:21883:28222', '127.0.0.1:34222:36222:31883:38222'];
const ALICE = 'a'.repeat(32);
const BOB = 'b'.repeat(32);

async function rendered(): Promise<{ dir: string; users: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ratchetd-nats-scripts-'));
  dirs.push(dir);
  expect((await script('render-cluster.sh', ['--store', path.join(dir, 'store'), dir, ...NODES])).code).toBe(0);
  return { dir, users: path.join(dir, 'ratchetd-users.conf') };
}

async function passwordFile(dir: string, name: string, content: string): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, content, { mode: 0o600 });
  return f;
}

describe('render-cluster.sh', () => {
  it('writes three node configs nats-server accepts, with routes to all three and replicas 3', async () => {
    const { dir } = await rendered();
    for (const n of [1, 2, 3]) {
      const conf = await readFile(path.join(dir, `node-${n}.conf`), 'utf8');
      expect(conf.replace('every @NAME@ replaced', '')).not.toMatch(/@[A-Z_]+@/);
      expect(conf).toContain('stream_replicas: 3');
      expect(conf).toContain(`listen: 127.0.0.1:${n}1883`);
      expect(conf.match(/nats-route:\/\/ratchetd-route:[A-Za-z0-9_-]+@127\.0\.0\.1:\d6222/g)).toHaveLength(3);
      const check = await run(NATS_SERVER, ['-t', '-c', path.join(dir, `node-${n}.conf`)]);
      expect(check.stdout + check.stderr).toContain('is valid');
    }
  });

  it('refuses a malformed node and a wrong number of nodes (exit 2)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ratchetd-nats-scripts-'));
    dirs.push(dir);
    const bad = await script('render-cluster.sh', [dir, NODES[0]!, NODES[1]!, '127.0.0.1:1:2:3']);
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.stderr).toContain('bad node "127.0.0.1:1:2:3"');
    expect((await script('render-cluster.sh', [dir, NODES[0]!, NODES[1]!])).code).toBe(2);
  });
});

describe('add-user.sh', () => {
  it('adds a user with the relay permissions, replaces its line on a new password, and removes it', async () => {
    const { dir, users } = await rendered();
    await script('add-user.sh', [users, ALICE, await passwordFile(dir, 'pa', 'first-password\n')]);
    await script('add-user.sh', [users, BOB, await passwordFile(dir, 'pb', 'bob-password\n')]);
    expect((await script('add-user.sh', [users, ALICE, await passwordFile(dir, 'pa2', 'second-password\n')])).code).toBe(0);
    const text = await readFile(users, 'utf8');
    const alice = text.split('\n').filter((l) => l.includes(`user: "${ALICE}"`));
    expect(alice).toHaveLength(1);
    expect(alice[0]).toContain('password: "second-password"');
    expect(alice[0]).toContain('allowed_connection_types: ["MQTT"]');
    expect(alice[0]).toContain(`publish: { allow: ["ratchetd.v1.bundle.${ALICE}", "ratchetd.v1.inbox.*"] }`);
    expect(alice[0]).toContain(`subscribe: { allow: ["ratchetd.v1.inbox.${ALICE}", "ratchetd.v1.bundle.*", "$MQTT.sub.>"] }`);
    const check = await run(NATS_SERVER, ['-t', '-c', path.join(dir, 'node-1.conf')]);
    expect(check.stdout + check.stderr).toContain('is valid');

    expect((await script('add-user.sh', ['--remove', users, ALICE])).code).toBe(0);
    const after = await readFile(users, 'utf8');
    expect(after).not.toContain(ALICE);
    expect(after).toContain(`user: "${BOB}"`);
  });

  it('refuses a bad user id, a password that would need escaping, and an empty password, leaving the file as it was', async () => {
    const { dir, users } = await rendered();
    const before = await readFile(users, 'utf8');
    const badId = await script('add-user.sh', [users, 'Not-A-User-Id', await passwordFile(dir, 'p', 'pw\n')]);
    expect(badId).toMatchObject({ code: 2 });
    expect(badId.stderr).toContain('is not a ratchetd user id');
    const quote = await script('add-user.sh', [users, ALICE, await passwordFile(dir, 'q', 'pw", permissions: {}\n')]);
    expect(quote.code).toBe(1);
    expect(quote.stderr).toContain('the password may hold only');
    const empty = await script('add-user.sh', [users, ALICE, await passwordFile(dir, 'e', '\n')]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('is empty');
    expect(await readFile(users, 'utf8')).toBe(before);
  });
});
