/**
 * Test support (used by *.test.ts only): runs `node bin/ratchetd.mjs …` as a real process and
 * collects its exit code and output, or starts a long-running one and waits for its ready line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const RATCHETD_BIN = fileURLToPath(new URL('../../bin/ratchetd.mjs', import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Finished> {
  const child = spawn(process.execPath, [RATCHETD_BIN, ...args], { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const finished = collect(child);
  child.stdin?.end(options.input ?? '');
  return finished;
}

export interface Running {
  child: ChildProcess;
  readyLine: string;
  /** Resolves when the process ends, with everything it printed. */
  finished: Promise<Finished>;
}

/** Starts a long-running subcommand and resolves at its first stdout line (or rejects if it exits first). */
export function startCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<Running> {
  const env = options.env === undefined ? undefined : { ...process.env, ...options.env };
  const child = spawn(process.execPath, [RATCHETD_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env === undefined ? {} : { env }) });
  const finished = collect(child);
  return new Promise((done, fail) => {
    let buffered = '';
    const onData = (d: Buffer): void => {
      buffered += d.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline >= 0) {
        child.stdout?.off('data', onData);
        done({ child, readyLine: buffered.slice(0, newline), finished });
      }
    };
    child.stdout?.on('data', onData);
    finished.then((f) => fail(new Error(`exited before ready (code ${f.code}): ${f.stderr}`)), fail);
  });
}

/** Sends SIGTERM to a process started by startCli and waits for it to end. */
export async function stopCli(running: Running): Promise<Finished> {
  if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGTERM');
  return running.finished;
}
