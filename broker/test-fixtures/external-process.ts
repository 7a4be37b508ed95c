/**
 * Runs an external server (mosquitto, redis-server) for a test or the benchmark: spawns it on a free
 * port, waits until the port accepts connections, keeps its stderr/stdout tail for error messages,
 * and stops it with SIGTERM (or SIGKILL). A port taken in the meantime is retried with another one.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { freePort, waitForPort } from './free-port.ts';

export interface ExternalProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** The last few KiB the process wrote (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL and waits for the exit. */
  kill(): Promise<void>;
}

const TAIL_BYTES = 8192;

/**
 * Servers still running when this process exits (a test that timed out before its cleanup) are
 * killed with it, instead of outliving the test run.
 */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
export function killWithThisProcess(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface ExternalCommand {
  readonly command: string;
  readonly args: (port: number) => string[];
  /** Restart on this port; default: a free one. */
  readonly port?: number | undefined;
  /** Runs before each spawn with the chosen port (e.g. writes a config file). */
  readonly prepare?: (port: number) => Promise<void>;
}

async function startOnce(c: ExternalCommand, port: number): Promise<ExternalProcess> {
  await c.prepare?.(port);
  const command = c.command;
  const child = spawn(command, c.args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  killWithThisProcess(child);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-TAIL_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const alive = (): boolean => spawnError === undefined && child.exitCode === null && child.signalCode === null;
  const kill = async (): Promise<void> => {
    if (alive()) child.kill('SIGKILL');
    await exited(child);
  };
  try {
    await waitForPort(port, '127.0.0.1', 15_000, alive);
  } catch (e) {
    await kill();
    const why = spawnError === undefined ? tail.trim() : spawnError.message;
    throw new Error(`${command} did not start on port ${port}: ${why || (e as Error).message}`);
  }
  return {
    port,
    child,
    output: () => tail,
    kill,
    async stop(graceMs = 5000) {
      if (!alive()) return exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited(child);
      clearTimeout(timer);
    },
  };
}

/** Starts `command args(port)` on a free loopback port (3 attempts if the port is taken meanwhile). */
export async function startExternal(c: ExternalCommand): Promise<ExternalProcess> {
  let last: unknown;
  for (let attempt = 0; attempt < (c.port === undefined ? 3 : 1); attempt++) {
    try {
      return await startOnce(c, c.port ?? (await freePort()));
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
