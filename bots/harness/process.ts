/**
 * Child processes that announce readiness with one JSON line on stdout (the ratchetd convention):
 * start one and wait for that line, keep the tail of its stderr for error reports, and stop it
 * with SIGTERM, then SIGKILL when it does not exit in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ReadyProcess {
  child: ChildProcess;
  pid: number;
  /** The parsed ready line. */
  ready: Record<string, unknown>;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines it wrote to stderr (for error messages). */
  stderrTail(): string;
  /** Lines printed on stdout after the ready line. */
  stdoutLines: string[];
}

export interface SpawnReadyOptions {
  /** Give up (and kill the process) when no ready line came within this time (ms). */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Also copy the child's stderr to this stream (e.g. process.stderr). */
  stderr?: NodeJS.WritableStream;
  /** Name used in error messages. */
  name?: string;
  /** Called right after the spawn, before the ready line (so a caller can kill a process that is still starting). */
  onSpawn?: (started: Pick<ReadyProcess, 'child' | 'exited'>) => void;
}

const STDERR_TAIL_BYTES = 8_192;

export class ProcessStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProcessStartError';
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Starts `command args…` and resolves with its first stdout line parsed as JSON with event "ready". */
export function spawnReady(command: string, args: readonly string[], options: SpawnReadyOptions = {}): Promise<ReadyProcess> {
  const name = options.name ?? args.join(' ');
  const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
  let tail = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    tail = (tail + d).slice(-STDERR_TAIL_BYTES);
    options.stderr?.write(d);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once('close', (code, signal) => done({ code, signal }));
    child.once('error', () => done({ code: null, signal: null }));
  });
  const stdoutLines: string[] = [];
  options.onSpawn?.({ child, exited });
  return new Promise((resolve, reject) => {
    let buffered = '';
    let ready: Record<string, unknown> | undefined;
    const fail = (why: string): void => {
      clearTimeout(timer);
      if (isRunning(child)) child.kill('SIGKILL');
      const stderr = tail.trim().split('\n').slice(-5).join(' | ');
      reject(new ProcessStartError(`${name}: ${why}${stderr === '' ? '' : ` — stderr: ${stderr}`}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${options.readyTimeoutMs ?? 30_000} ms`), options.readyTimeoutMs ?? 30_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (ready !== undefined) {
          stdoutLines.push(line);
          continue;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          return fail(`printed a line that is not JSON before it was ready: ${line.slice(0, 200)}`);
        }
        if (typeof parsed !== 'object' || parsed === null || (parsed as { event?: unknown }).event !== 'ready') {
          return fail(`expected a ready line, got ${line.slice(0, 200)}`);
        }
        ready = parsed as Record<string, unknown>;
        clearTimeout(timer);
        resolve({ child, pid: child.pid ?? -1, ready, exited, stderrTail: () => tail, stdoutLines });
      }
    });
    child.once('error', (e) => fail(`cannot start: ${e.message}`));
    void exited.then(({ code, signal }) => {
      if (ready === undefined) fail(`exited before it was ready (${signal ?? `code ${code}`})`);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(process: Pick<ReadyProcess, 'child' | 'exited'>, graceMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
  const { child } = process;
  if (!isRunning(child)) return { ...(await process.exited), killed: false };
  child.kill('SIGTERM');
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, graceMs);
  const result = await process.exited;
  clearTimeout(timer);
  return { ...result, killed };
}
