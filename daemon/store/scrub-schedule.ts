/**
 * When the store is scrubbed (level-scrub.ts), which bounds how long a replaced or deleted value
 * stays in the data dir's files:
 *   - at open (a crash may have left superseded values behind);
 *   - every `intervalMs` (default 30 s), if anything was written since the last complete scrub;
 *   - at close, if anything was written since: after a clean shutdown no superseded value is left.
 * A value replaced at time t is gone by the end of the first scrub that starts after t: at most
 * intervalMs + one scrub's duration later (a scrub of a few MiB takes tens of milliseconds), so the
 * documented bound of 60 s holds with the default interval. A scrub that could not finish its job (an
 * iterator held an older snapshot, or it failed) leaves the store marked dirty: the next tick repeats it.
 */

export type ScrubReason = 'open' | 'interval' | 'close';

export interface ScrubReport {
  readonly reason: ScrubReason;
  /** Whether every value superseded before the scrub began is now gone from the files. */
  readonly complete: boolean;
  readonly durationMs: number;
  /** Why the scrub failed, if it did (the next tick retries). */
  readonly error?: unknown;
}

export interface ScrubScheduleOptions {
  /** Between two scrubs while something is written (ms). */
  readonly intervalMs?: number;
  /** After every scrub (the daemon logs failures). Must not throw. */
  readonly onScrub?: (report: ScrubReport) => void;
  /** Hands out the schedule once the store is open (tests wait on `settled()`). */
  readonly onSchedule?: (schedule: ScrubSchedule) => void;
}

export const DEFAULT_SCRUB_INTERVAL_MS = 30_000;

/** Runs one scrub; resolves whether it was complete. */
export type ScrubPass = () => Promise<boolean>;

export class ScrubSchedule {
  private dirty = true;
  private running: Promise<void> | null = null;
  /** Scrubs started so far; the running one (if any) is number `started`. */
  private started = 0;
  private last: ScrubReport | undefined;
  private waiters: Array<{ from: number; resolve: (r: ScrubReport) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly intervalMs: number;

  constructor(
    private readonly scrub: ScrubPass,
    private readonly options: ScrubScheduleOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_SCRUB_INTERVAL_MS;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs <= 0) throw new RangeError('scrub interval must be a positive number of ms');
  }

  /** Something was written (or deleted): the next tick scrubs. */
  markDirty(): void {
    this.dirty = true;
  }

  /**
   * Resolves with the report of the first complete scrub that covers every write made before this
   * call (the running one if nothing was written since it began, else a later one).
   */
  settled(): Promise<ScrubReport> {
    if (!this.dirty && this.running === null && this.last?.complete === true) return Promise.resolve(this.last);
    const from = this.dirty ? this.started + 1 : this.started;
    return new Promise((resolve) => this.waiters.push({ from, resolve }));
  }

  /** Whether something was written since the last complete scrub began, or a scrub is running. */
  get pending(): boolean {
    return this.dirty || this.running !== null;
  }

  /** The scrub at open, then the timer. */
  start(): void {
    void this.run('open');
    this.timer = setInterval(() => {
      if (this.dirty && this.running === null) void this.run('interval');
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * Stops the timer, waits for a running scrub, then scrubs once more if anything was written since
   * the last complete one. Rejects if that last scrub fails (the caller still closes the database).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    if (!this.dirty) return;
    const report = await this.run('close');
    if (report.error !== undefined) throw report.error;
  }

  private run(reason: ScrubReason): Promise<ScrubReport> {
    this.dirty = false;
    const seq = ++this.started;
    const started = performance.now();
    const done = this.scrub().then(
      (complete): ScrubReport => ({ reason, complete, durationMs: performance.now() - started }),
      (error: unknown): ScrubReport => ({ reason, complete: false, durationMs: performance.now() - started, error }),
    );
    const report = done.then((r) => {
      if (!r.complete) this.dirty = true;
      this.running = null;
      this.last = r;
      this.options.onScrub?.(r);
      const waiting = this.waiters;
      this.waiters = [];
      for (const w of waiting) {
        if (r.complete && w.from <= seq) w.resolve(r);
        else this.waiters.push(w.from <= seq ? { from: seq + 1, resolve: w.resolve } : w);
      }
      return r;
    });
    this.running = report.then(() => undefined);
    return report;
  }
}
