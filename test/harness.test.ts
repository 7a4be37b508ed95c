// The CI harness: a real broker and real daemons (the ratchetd CLI as processes), SDK clients on
// top, and a teardown that leaves no process and no temp dir behind.
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startNetwork, type Network } from '../bots/harness/network.ts';
import { ProcessStartError, spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';

const HARNESS_CLI = fileURLToPath(new URL('../bots/harness/cli.ts', import.meta.url));

let networks: Network[] = [];
let children: ReadyProcess[] = [];
let dirs: string[] = [];

afterEach(async () => {
  await Promise.all(networks.map((n) => n.stop()));
  await Promise.all(children.map((c) => stopProcess(c, 2_000)));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  networks = [];
  children = [];
  dirs = [];
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function network(options: Parameters<typeof startNetwork>[0]): Promise<Network> {
  const started = await startNetwork(options);
  networks.push(started);
  return started;
}

describe('startNetwork', () => {
  it('starts a broker and two daemons that exchange a message, then leaves nothing behind', async () => {
    const net = await network({ daemons: 2 });
    expect(net.brokerUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(net.daemons).toHaveLength(2);
    const [alice, bob] = net.daemons;
    if (alice === undefined || bob === undefined) throw new Error('two daemons expected');
    expect(alice.userId).toMatch(/^[a-z2-7]{32}$/);
    expect(alice.userId).not.toBe(bob.userId);
    expect(statSync(alice.socket).isSocket()).toBe(true);
    expect(alice.bot.userId).toBe(alice.userId);
    expect(alice.bot.connected).toBe(true);

    await alice.bot.send(bob.userId, 'hello bob');
    const received = await bob.bot.waitForMessage((m) => m.from === alice.userId);
    expect(received.text).toBe('hello bob');

    const pids = [net.brokerPid, alice.pid, bob.pid];
    expect(pids.every(alive)).toBe(true);
    await net.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(net.dir)).toBe(false);
    await net.stop(); // idempotent
  });

  it('restarts a crashed daemon on the same data; its client reconnects and gets what was sent meanwhile', async () => {
    const net = await network({ daemons: 2, bots: { reconnect: { initialDelayMs: 50, maxDelayMs: 500 } } });
    const [alice, bob] = net.daemons;
    if (alice === undefined || bob === undefined) throw new Error('two daemons expected');
    await alice.bot.send(bob.userId, 'first');
    expect((await bob.bot.waitForMessage()).text).toBe('first');
    const oldPid = bob.pid;
    const restarted = net.restartDaemon(1, { signal: 'SIGKILL' });
    await alice.bot.send(bob.userId, 'while bob was down');
    await restarted;
    expect(bob.pid).not.toBe(oldPid);
    expect(alive(oldPid)).toBe(false);
    const later = await bob.bot.waitForMessage((m) => m.from === alice.userId);
    expect(later.text).toBe('while bob was down');
    await bob.bot.send(alice.userId, 'back');
    expect((await alice.bot.waitForMessage()).text).toBe('back');
  });

  it('reports a process that dies on its own', async () => {
    const net = await network({ daemons: 1, bots: false });
    const daemon = net.daemons[0];
    if (daemon === undefined) throw new Error('one daemon expected');
    expect(() => daemon.bot).toThrow(/bots: false/);
    process.kill(daemon.pid, 'SIGKILL');
    expect(await net.unexpectedExit).toEqual({ name: 'daemon 0', code: null, signal: 'SIGKILL' });
  });

  it('a process that fails to start makes startNetwork reject and clean up its temp dir', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'harness-test-'));
    dirs.push(parent);
    const failing = startNetwork({ daemons: 1, tmpDir: parent, command: [process.execPath, '-e', 'console.error("no such thing"); process.exit(3)'] });
    await expect(failing).rejects.toBeInstanceOf(ProcessStartError);
    await expect(failing).rejects.toThrow(/exited before it was ready \(code 3\).*no such thing/);
    expect(await readdir(parent)).toEqual([]);
  });

  it('a failed start also stops the processes that were still starting', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'harness-test-'));
    const scratch = await mkdtemp(join(tmpdir(), 'harness-pid-'));
    dirs.push(parent, scratch);
    const pidFile = join(scratch, 'slow.pid');
    // A stand-in for ratchetd: the broker is ready at once, daemon 1 starts and never gets ready,
    // daemon 0 fails once daemon 1 is running.
    const script = `
      const args = process.argv.slice(1);
      if (args[0] === 'broker') { console.log(JSON.stringify({ event: 'ready', mqtt: 'mqtt://127.0.0.1:1' })); setInterval(() => {}, 1000); }
      else if (args.some((a) => a.endsWith('/d0'))) { const fail = () => (require('node:fs').existsSync(${JSON.stringify(pidFile)}) ? process.exit(3) : setTimeout(fail, 20)); fail(); }
      else { require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000); }`;
    const failing = startNetwork({ daemons: 2, tmpDir: parent, command: [process.execPath, '-e', script], stopGraceMs: 1_000 });
    await expect(failing).rejects.toThrow(/daemon 0: exited before it was ready \(code 3\)/);
    const slowPid = Number(await readFile(pidFile, 'utf8'));
    expect(slowPid).toBeGreaterThan(0);
    expect(alive(slowPid)).toBe(false);
    expect(await readdir(parent)).toEqual([]);
  });
});

describe('npm run harness', () => {
  it('prints the network as one JSON line and tears it down on SIGTERM', async () => {
    const cli = await spawnReady(process.execPath, ['--import', 'tsx', HARNESS_CLI, '--daemons', '2'], { name: 'harness' });
    children.push(cli);
    const ready = cli.ready as { event: string; mqtt: string; dir: string; daemons: { userId: string; socket: string; pid: number }[] };
    expect(ready.event).toBe('ready');
    expect(ready.mqtt).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.daemons).toHaveLength(2);
    for (const d of ready.daemons) {
      expect(d.userId).toMatch(/^[a-z2-7]{32}$/);
      expect(statSync(d.socket).isSocket()).toBe(true);
      expect(alive(d.pid)).toBe(true);
    }
    expect(await stopProcess(cli)).toEqual({ code: 0, signal: null, killed: false });
    expect(ready.daemons.map((d) => d.pid).filter(alive)).toEqual([]);
    expect(existsSync(ready.dir)).toBe(false);
  });

  it('exits 1 and cleans up when a daemon dies; exits 2 on a bad flag', async () => {
    const cli = await spawnReady(process.execPath, ['--import', 'tsx', HARNESS_CLI, '--daemons', '1'], { name: 'harness' });
    children.push(cli);
    const ready = cli.ready as { dir: string; daemons: { pid: number }[] };
    process.kill(ready.daemons[0]?.pid ?? -1, 'SIGKILL');
    expect((await cli.exited).code).toBe(1);
    expect(cli.stderrTail()).toMatch(/daemon 0 exited unexpectedly \(SIGKILL\)/);
    expect(existsSync(ready.dir)).toBe(false);
    const bad = spawnReady(process.execPath, ['--import', 'tsx', HARNESS_CLI, '--daemons', 'many'], { name: 'harness' });
    await expect(bad).rejects.toThrow(/code 2.*--daemons must be an integer/);
  });
});
