/**
 * The processes of a fault run: one broker and two daemons (alice, bob) as real `ratchetd`
 * processes in one temp dir. Each is started as `node bin/ratchetd.mjs …` (a single process: a
 * SIGKILL takes the process that holds the LevelDB lock, unlike `npx tsx`, whose grandchild would
 * survive), can be killed with SIGKILL at any moment and restarted on the same data dir — the
 * broker on the same port, so the daemons find it again.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RATCHETD_BIN } from '../../bots/harness/network.ts';
import { spawnReady, stopProcess, type ReadyProcess } from '../../bots/harness/process.ts';

export type Target = 'broker' | 'alice' | 'bob';
export const DAEMONS = ['alice', 'bob'] as const;
export type DaemonName = (typeof DAEMONS)[number];

export interface ClusterOptions {
  /** Extra broker flags, e.g. ['--redis', url] (default: LevelDB persistence in the data dir). */
  brokerArgs?: readonly string[];
  logLevel?: string;
}

export interface DaemonInfo {
  userId: string;
  socket: string;
  dataDir: string;
}

export class FaultCluster {
  private readonly processes = new Map<Target, ReadyProcess>();
  private readonly recentStderr = new Map<Target, string>();
  private brokerPort = 0;
  readonly daemons = new Map<DaemonName, DaemonInfo>();
  /** Processes killed with SIGKILL, per target. */
  readonly kills: Record<Target, number> = { broker: 0, alice: 0, bob: 0 };
  /** FAULTS_LOG_DIR=<dir> keeps every process's whole stderr in <dir>/<target>.log. */
  private readonly logFiles = new Map<Target, WriteStream>();
  private readonly onExit = (): void => {
    for (const p of this.processes.values()) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  };

  private constructor(
    readonly dir: string,
    private readonly options: ClusterOptions,
  ) {
    process.once('exit', this.onExit);
  }

  static async start(options: ClusterOptions = {}): Promise<FaultCluster> {
    const c = new FaultCluster(await mkdtemp(join(tmpdir(), 'ratchetd-faults-')), options);
    try {
      await c.startBroker();
      await Promise.all(DAEMONS.map((d) => c.startDaemon(d)));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get brokerUrl(): string {
    return `mqtt://127.0.0.1:${this.brokerPort}`;
  }

  daemon(name: DaemonName): DaemonInfo {
    const d = this.daemons.get(name);
    if (d === undefined) throw new Error(`${name} has not started`);
    return d;
  }

  private logFile(target: Target): WriteStream | undefined {
    const dir = process.env['FAULTS_LOG_DIR'];
    if (dir === undefined || dir === '') return undefined;
    let f = this.logFiles.get(target);
    if (f === undefined) {
      mkdirSync(dir, { recursive: true });
      f = createWriteStream(join(dir, `${target}.log`), { flags: 'a' });
      this.logFiles.set(target, f);
    }
    f.write(`=== ${new Date().toISOString()} start ${target}\n`);
    return f;
  }

  private async launch(target: Target, args: string[]): Promise<ReadyProcess> {
    const level = process.env['FAULTS_LOG_LEVEL'] ?? this.options.logLevel ?? 'warn';
    const log = this.logFile(target);
    const started = await spawnReady(process.execPath, [RATCHETD_BIN, ...args, '--log-level', level], {
      name: `ratchetd ${target}`,
      readyTimeoutMs: 30_000,
      ...(log === undefined ? {} : { stderr: log }),
    });
    this.processes.set(target, started);
    return started;
  }

  private async startBroker(): Promise<void> {
    const data = join(this.dir, 'broker');
    await mkdir(data, { recursive: true, mode: 0o700 });
    const started = await this.launch('broker', ['broker', '--port', String(this.brokerPort), '--data', data, ...(this.options.brokerArgs ?? [])]);
    const url = started.ready['mqtt'];
    if (typeof url !== 'string') throw new Error(`broker ready line without mqtt: ${JSON.stringify(started.ready)}`);
    const port = Number(new URL(url).port);
    if (this.brokerPort !== 0 && port !== this.brokerPort) throw new Error(`broker restarted on port ${port}, not ${this.brokerPort}`);
    this.brokerPort = port;
  }

  private async startDaemon(name: DaemonName): Promise<void> {
    const dataDir = join(this.dir, name);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const socket = join(dataDir, 'api.sock');
    const started = await this.launch(name, ['daemon', '--data', dataDir, '--broker', this.brokerUrl, '--socket', socket]);
    const userId = started.ready['userId'];
    if (typeof userId !== 'string') throw new Error(`${name} ready line without userId: ${JSON.stringify(started.ready)}`);
    const known = this.daemons.get(name);
    if (known !== undefined && known.userId !== userId) throw new Error(`${name} came back as another user (${userId}, was ${known.userId})`);
    this.daemons.set(name, { userId, socket, dataDir });
  }

  /** SIGKILL, waits until the process is gone. */
  async kill(target: Target): Promise<void> {
    const p = this.processes.get(target);
    if (p === undefined) throw new Error(`${target} is not running`);
    this.processes.delete(target);
    p.child.kill('SIGKILL');
    const exit = await p.exited;
    this.recentStderr.set(target, p.stderrTail());
    if (exit.signal !== 'SIGKILL') throw new Error(`${target} had already exited (${exit.signal ?? `code ${exit.code}`}) before the kill: ${p.stderrTail().slice(-2000)}`);
    this.kills[target] += 1;
  }

  /** Starts a killed process again on its data dir. */
  async restart(target: Target): Promise<void> {
    if (this.processes.has(target)) throw new Error(`${target} is still running`);
    if (target === 'broker') await this.startBroker();
    else await this.startDaemon(target);
  }

  /** A process that exited although nobody killed it (a crash), or undefined. */
  crashed(): string | undefined {
    for (const [target, p] of this.processes) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        return `${target} exited by itself (${p.child.signalCode ?? `code ${p.child.exitCode}`}): ${p.stderrTail().slice(-2000)}`;
      }
    }
    return undefined;
  }

  /** The stderr tails of every process (current, or the last killed one), for failure reports. */
  stderrTails(): string {
    const out: string[] = [];
    for (const t of ['broker', ...DAEMONS] as const) {
      const tail = this.processes.get(t)?.stderrTail() ?? this.recentStderr.get(t) ?? '';
      if (tail.trim() !== '') out.push(`--- ${t} ---\n${tail.slice(-3000)}`);
    }
    return out.join('\n');
  }

  async stop(): Promise<void> {
    const daemons = [...this.processes.entries()].filter(([t]) => t !== 'broker');
    await Promise.all(daemons.map(([, p]) => stopProcess(p, 5_000)));
    const broker = this.processes.get('broker');
    if (broker !== undefined) await stopProcess(broker, 5_000);
    this.processes.clear();
    for (const f of this.logFiles.values()) f.end();
    await rm(this.dir, { recursive: true, force: true });
    process.off('exit', this.onExit);
  }
}
