/**
 * The bot side of bench:scale: one Receive stream on the daemon under test, counting messages by
 * label prefix and acking them in batches (as a bot that keeps its inbox empty does), plus the
 * daemon process's memory from /proc.
 */
import { readdir, readFile } from 'node:fs/promises';
import { MessengerClient } from '../daemon/api/client.ts';

const ACK_BATCH = 256;
const ACK_DELAY_MS = 10;

export class CountingBot {
  private readonly client: MessengerClient;
  private readonly abort = new AbortController();
  private readonly counts = new Map<string, number>();
  private waiters: Array<{ label: string; count: number; resolve: () => void }> = [];
  private pendingAcks: string[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  private acking: Promise<void> = Promise.resolve();
  private readonly loop: Promise<void>;
  failure: Error | undefined;

  constructor(socket: string) {
    this.client = new MessengerClient({ socketPath: socket });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    try {
      for await (const e of this.client.receive({ signal: this.abort.signal })) {
        if (e.kind !== 'message') continue;
        const text = new TextDecoder().decode(e.message.body);
        const label = text.slice(0, text.indexOf(':') < 0 ? text.length : text.indexOf(':'));
        this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
        this.pendingAcks.push(e.message.messageId);
        if (this.pendingAcks.length >= ACK_BATCH) this.flush();
        else this.ackTimer ??= setTimeout(() => this.flush(), ACK_DELAY_MS);
        this.waiters = this.waiters.filter((w) => {
          if ((this.counts.get(w.label) ?? 0) < w.count) return true;
          w.resolve();
          return false;
        });
      }
    } catch (e) {
      if (!this.abort.signal.aborted) this.failure = e as Error;
    }
  }

  private flush(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const ids = this.pendingAcks.splice(0);
    if (ids.length === 0) return;
    this.acking = this.acking.then(() => this.client.ack(ids)).catch((e: unknown) => {
      this.failure ??= e as Error;
    });
  }

  count(label: string): number {
    return this.counts.get(label) ?? 0;
  }

  /** Resolves once `count` messages with this label arrived; rejects after timeoutMs. */
  waitFor(label: string, count: number, timeoutMs: number): Promise<void> {
    if (this.count(label) >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.count(label)} of ${count} "${label}" messages within ${timeoutMs} ms${this.failure ? ` (${this.failure.message})` : ''}`)), timeoutMs);
      this.waiters.push({ label, count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  async close(): Promise<void> {
    this.flush();
    await this.acking;
    this.abort.abort();
    await this.loop;
    this.client.close();
  }
}

export interface ProcessMemory {
  /** Resident set size now (MB). */
  rssMb: number;
  /** Peak resident set size since the process started (VmHWM, MB). */
  peakRssMb: number;
}

export async function processMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]);
  };
  return { rssMb: Math.round(kb('VmRSS') / 102.4) / 10, peakRssMb: Math.round(kb('VmHWM') / 102.4) / 10 };
}

/** CPU time (user + system) the process has used so far, in seconds (/proc/PID/stat, 100 ticks/s). */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot read the CPU time of ${pid}`);
  return (utime + stime) / 100;
}

/**
 * CPU time (s) of a process's main thread and of all its other threads together (the libuv pool:
 * LevelDB gets, batches, fsyncs; LevelDB's compaction thread; V8's GC helpers), from
 * /proc/PID/task/TID/stat. For BENCH_SCALE_TRACE lines.
 */
export async function threadCpuSeconds(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    // Node 20 leaves its threads unnamed ("node"): the main thread is the one whose id is the pid.
    const name = tid === String(pid) ? 'main' : 'others';
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
  }
  return out;
}

/** Samples a process's RSS every `everyMs` and keeps the largest value per named phase. */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private phaseName = 'start';
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.timer = setInterval(() => void this.sample(), everyMs);
    this.timer.unref();
  }

  private async sample(): Promise<void> {
    try {
      const { rssMb } = await processMemory(this.pid);
      this.peaks.set(this.phaseName, Math.max(this.peaks.get(this.phaseName) ?? 0, rssMb));
    } catch {
      // the process is gone (end of the run)
    }
  }

  /** Starts a new phase (after a last sample of the current one). */
  async phase(name: string): Promise<void> {
    await this.sample();
    this.phaseName = name;
  }

  /** Peak RSS (MB) per phase so far. */
  async stop(): Promise<Record<string, number>> {
    await this.sample();
    clearInterval(this.timer);
    return Object.fromEntries(this.peaks);
  }
}
