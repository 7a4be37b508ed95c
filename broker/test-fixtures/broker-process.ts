/**
 * Runs broker-child.ts (createBroker in its own process) so a test or the benchmark can SIGKILL a
 * broker node. One process (node with tsx's loader), not the tsx CLI, whose grandchild would survive
 * a SIGKILL of the CLI.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killWithThisProcess } from './external-process.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'broker-child.ts');

export interface BrokerProcess {
  readonly child: ChildProcess;
  /** mqtt://127.0.0.1:PORT from the ready line. */
  readonly url: string;
  readonly port: number;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (clean close) and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface BrokerProcessOptions {
  readonly maxQueuedPerClient?: number;
  readonly messageTtlMs?: number;
  /** Listen here (a restart on the same address); default: a free port. */
  readonly port?: number;
}

function exit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** `store` is a data dir (LevelDB) or a redis:// URL (a cluster node). */
export async function startBrokerProcess(store: string, o: BrokerProcessOptions = {}): Promise<BrokerProcess> {
  const args = [CHILD, store, String(o.maxQueuedPerClient ?? 0), String(o.messageTtlMs ?? 0), String(o.port ?? 0)];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  killWithThisProcess(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`broker process exited (${code}) before its ready line: ${stderr}`)));
    lines.once('line', (line) => {
      const ready = JSON.parse(line) as { event: string; mqtt: string };
      if (ready.event === 'ready') resolve(ready.mqtt);
      else reject(new Error(`unexpected line: ${line}`));
    });
  });
  return {
    child,
    url,
    port: Number(new URL(url).port),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit(child);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exit(child);
    },
  };
}
