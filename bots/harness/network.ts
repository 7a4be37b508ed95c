/**
 * A throwaway ratchetd network for integration tests: one broker and N daemons as real processes
 * (the `ratchetd` CLI), each on a free port / its own socket in one temp dir, plus a connected SDK
 * client per daemon. `stop()` tears it all down: clients, daemons, broker (SIGTERM, then SIGKILL
 * after a grace period), then the temp dir. If the test process dies first, an exit hook kills
 * the children and removes the dir.
 *
 *   const net = await startNetwork({ daemons: 2 });
 *   const alice = net.daemon(0), bob = net.daemon(1);
 *   await alice.bot.send(bob.userId, 'hi');
 *   expect((await bob.bot.waitForMessage()).text).toBe('hi');
 *   await net.stop();
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GroupInfo } from '../../daemon/api/backend.ts';
import type { Bot, BotOptions } from '../sdk/bot.ts';
import { connect } from '../sdk/connect.ts';
import { silentLogger } from '../sdk/logger.ts';
import { spawnReady, stopProcess, type ReadyProcess } from './process.ts';

/**
 * The `ratchetd` executable the network runs: bin/ratchetd.mjs of this checkout (which runs the
 * sources) or of the installed package (which runs its compiled lib/js/). This module sits two levels
 * below the root in both layouts (bots/harness/ here, lib/js/ compiled), so one relative URL finds it.
 */
export const RATCHETD_BIN = fileURLToPath(new URL('../../bin/ratchetd.mjs', import.meta.url));

export interface NetworkOptions {
  /** Number of daemons (default 2). */
  daemons?: number;
  /** Connect an SDK client to each daemon and start it (default {} = on, silent); false = no clients. */
  bots?: BotOptions | false;
  /** The ratchetd command (default: this Node running RATCHETD_BIN, of this checkout or installed package). */
  command?: readonly string[];
  /** --log-level of the processes (default warn); their stderr is kept for error messages. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Also copy the processes' stderr here (e.g. process.stderr). */
  stderr?: NodeJS.WritableStream;
  /** Per-process limit for printing the ready line (default 30 s). */
  readyTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL (default 5 s). */
  stopGraceMs?: number;
  /** Parent of the temp dir (default os.tmpdir()). */
  tmpDir?: string;
}

export interface NetworkDaemon {
  index: number;
  userId: string;
  /** The API Unix socket. */
  socket: string;
  dataDir: string;
  pid: number;
  /** Connected, started SDK client (unless `bots: false`); it reconnects across restarts. */
  bot: Bot;
}

export interface ProcessExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Network {
  brokerUrl: string;
  brokerPid: number;
  /** The temp dir holding every data dir and socket (removed by stop()). */
  dir: string;
  daemons: NetworkDaemon[];
  /** Daemon `index`; throws a RangeError when there is none. */
  daemon(index: number): NetworkDaemon;
  /** Resolves if a process exits while the network is up (a crash); never rejects. */
  unexpectedExit: Promise<ProcessExit>;
  /** Stops daemon `index` (SIGTERM, or SIGKILL to simulate a crash), starts it again on the same data
   * dir and socket, and resolves once its client has reconnected. */
  restartDaemon(index: number, options?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<NetworkDaemon>;
  /**
   * Creates a group owned by daemon `owner` with the daemons `members` (indexes), and resolves once
   * every member's daemon has applied it (its bot saw group_changed). Needs the SDK clients.
   */
  createGroup(name: string, owner: number, members: readonly number[], options?: { timeoutMs?: number }): Promise<GroupInfo>;
  /** Tears everything down; safe to call more than once. */
  stop(): Promise<void>;
  /** The network as plain JSON (what the CLI prints). */
  toJSON(): { mqtt: string; dir: string; daemons: { userId: string; socket: string; dataDir: string; pid: number }[] };
}

function field(ready: Record<string, unknown>, name: string, what: string): string {
  const value = ready[name];
  if (typeof value !== 'string' || value === '') throw new Error(`${what} printed a ready line without "${name}": ${JSON.stringify(ready)}`);
  return value;
}

function noBot(): never {
  throw new Error('this network was started with bots: false; connect({ socket }) yourself');
}

export async function startNetwork(options: NetworkOptions = {}): Promise<Network> {
  const count = options.daemons ?? 2;
  if (!Number.isInteger(count) || count < 0 || count > 64) throw new RangeError('daemons must be an integer from 0 to 64');
  const [command, ...prefix] = options.command ?? [process.execPath, RATCHETD_BIN];
  if (command === undefined) throw new RangeError('command must not be empty');
  const logLevel = options.logLevel ?? 'warn';
  const grace = options.stopGraceMs ?? 5_000;
  const dir = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'ratchetd-net-'));
  /** Ready processes by name ("broker", "daemon 0", …). */
  const processes = new Map<string, ReadyProcess>();
  /** Every child not yet exited, including those still starting (stop() must not miss them). */
  const spawned = new Set<Pick<ReadyProcess, 'child' | 'exited'>>();
  const bots: Bot[] = [];
  let stopping: Promise<void> | undefined;
  let reportExit: (exit: ProcessExit) => void = () => undefined;
  const unexpectedExit = new Promise<ProcessExit>((done) => (reportExit = done));

  // Last resort when the test runner dies without stop(): synchronous kill and cleanup.
  const onExit = (): void => {
    for (const p of spawned) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  async function launch(name: string, args: string[]): Promise<ReadyProcess> {
    if (stopping !== undefined) throw new Error('the network is stopping');
    const started = await spawnReady(command as string, [...prefix, ...args, '--log-level', logLevel], {
      name: `ratchetd ${name}`,
      onSpawn: (p) => {
        spawned.add(p);
        void p.exited.then(() => spawned.delete(p));
      },
      ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
      ...(options.stderr === undefined ? {} : { stderr: options.stderr }),
    });
    processes.set(name, started);
    void started.exited.then(({ code, signal }) => {
      if (stopping === undefined && processes.get(name) === started) reportExit({ name, code, signal });
    });
    return started;
  }

  async function launchDaemon(index: number, brokerUrl: string, fresh: boolean): Promise<Omit<NetworkDaemon, 'bot'>> {
    const dataDir = join(dir, `d${index}`);
    if (fresh) await mkdir(dataDir, { mode: 0o700 }); // not recursive: never recreate a removed network dir
    const socket = join(dataDir, 'api.sock');
    const name = `daemon ${index}`;
    const started = await launch(name, ['daemon', '--data', dataDir, '--broker', brokerUrl, '--socket', socket]);
    return { index, userId: field(started.ready, 'userId', name), socket: field(started.ready, 'socket', name), dataDir, pid: started.pid };
  }

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      await Promise.allSettled(bots.map((b) => b.stop({ timeoutMs: grace })));
      const broker = processes.get('broker');
      await Promise.all([...spawned].filter((p) => p.child !== broker?.child).map((p) => stopProcess(p, grace)));
      await Promise.all([...spawned].map((p) => stopProcess(p, grace)));
      await rm(dir, { recursive: true, force: true });
      process.off('exit', onExit);
    })();
    return stopping;
  }

  try {
    const brokerProcess = await launch('broker', ['broker', '--port', '0', '--data', join(dir, 'broker')]);
    const brokerUrl = field(brokerProcess.ready, 'mqtt', 'broker');
    const launched = await Promise.all(Array.from({ length: count }, (_, i) => launchDaemon(i, brokerUrl, true)));
    const daemons: NetworkDaemon[] = [];
    for (const d of launched) {
      if (options.bots === false) {
        daemons.push(Object.defineProperty({ ...d }, 'bot', { enumerable: false, get: noBot }) as NetworkDaemon);
        continue;
      }
      const bot = await connect({ socket: d.socket, logger: silentLogger, reconnect: { initialDelayMs: 50, maxDelayMs: 1_000 }, ...options.bots });
      bots.push(bot);
      await bot.start();
      daemons.push({ ...d, bot });
    }

    const restartDaemon = async (index: number, how: { signal?: 'SIGTERM' | 'SIGKILL' } = {}): Promise<NetworkDaemon> => {
      const current = daemons[index];
      const running = processes.get(`daemon ${index}`);
      if (current === undefined || running === undefined) throw new RangeError(`no daemon ${index}`);
      processes.delete(`daemon ${index}`);
      // Resolves once the client has reopened its stream on the new process (when it runs at all).
      const client = options.bots === false ? undefined : current.bot;
      const reconnected =
        client === undefined || client.lifecycle !== 'running'
          ? Promise.resolve()
          : new Promise<void>((done) => {
              const off = client.on('connected', () => {
                off();
                done();
              });
            });
      if (how.signal === 'SIGKILL') {
        running.child.kill('SIGKILL');
        await running.exited;
      } else {
        await stopProcess(running, grace);
      }
      const again = await launchDaemon(index, brokerUrl, false);
      Object.assign(current, { pid: again.pid, socket: again.socket });
      await reconnected;
      return current;
    };

    const daemonAt = (index: number): NetworkDaemon => {
      const d = daemons[index];
      if (d === undefined) throw new RangeError(`no daemon ${index} (the network has ${daemons.length})`);
      return d;
    };

    const createGroup = async (name: string, owner: number, members: readonly number[], how: { timeoutMs?: number } = {}): Promise<GroupInfo> => {
      const memberDaemons = members.map(daemonAt);
      const seen = memberDaemons.map(() => new Set<string>());
      const wake = new Set<() => void>();
      const offs = memberDaemons.map((d, i) =>
        d.bot.on('groupChanged', ({ group }) => {
          seen[i]!.add(group.groupId);
          for (const w of wake) w();
        }),
      );
      try {
        const group = await daemonAt(owner).bot.createGroup(name, memberDaemons.map((d) => d.userId));
        await new Promise<void>((done, fail) => {
          const timer = setTimeout(() => fail(new Error(`group ${group.groupId} did not reach every member in time`)), how.timeoutMs ?? 30_000);
          const check = (): void => {
            if (!seen.every((s) => s.has(group.groupId))) return;
            clearTimeout(timer);
            wake.delete(check);
            done();
          };
          wake.add(check);
          check();
        });
        return group;
      } finally {
        for (const off of offs) off();
      }
    };

    return {
      brokerUrl,
      brokerPid: brokerProcess.pid,
      createGroup,
      dir,
      daemons,
      daemon: daemonAt,
      unexpectedExit,
      restartDaemon,
      stop,
      toJSON: () => ({ mqtt: brokerUrl, dir, daemons: daemons.map(({ userId, socket, dataDir, pid }) => ({ userId, socket, dataDir, pid })) }),
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
