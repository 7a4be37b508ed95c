/**
 * The clock and timers behind the API's time-based behaviour (a send's deadline and the idle end of
 * a client's SendStream; a SendStream's drain window and the grace period at server shutdown).
 * Production uses the system's; tests pass a manual clock (manual-clock.ts) and fire timers
 * themselves, so that no test waits for, or measures, wall-clock time.
 */
export interface Timer {
  /** As Node's: the timer alone does not keep the process alive. */
  unref(): void;
}

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};
