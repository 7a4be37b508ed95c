/**
 * Test support (used by *.test.ts only): Timers on a clock that moves only when the test says so.
 * Timers fire from advance(), in due order (then in the order they were set); whenScheduled()
 * resolves when a timer is set, which is itself an event to wait for ("the stream is now waiting
 * out its drain window").
 */
import type { Timer, Timers } from './timers.ts';

/** Timers one advance() may fire: past it, timers keep re-arming without the clock moving (a bug). */
const MAX_FIRES_PER_ADVANCE = 10_000;

export interface ManualTimer extends Timer {
  readonly ms: number;
  readonly due: number;
  readonly fired: boolean;
  readonly cleared: boolean;
}

interface Entry extends ManualTimer {
  fn: () => void;
  fired: boolean;
  cleared: boolean;
  readonly order: number;
}

export class ManualClock implements Timers {
  private t: number;
  private order = 0;
  private readonly entries: Entry[] = [];
  private readonly waiters: Array<{ pred: (t: ManualTimer) => boolean; resolve: (t: ManualTimer) => void }> = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): ManualTimer {
    const entry: Entry = { ms, due: this.t + Math.max(0, ms), fn, fired: false, cleared: false, order: this.order++, unref: () => undefined };
    this.entries.push(entry);
    for (const w of this.waiters.splice(0)) {
      if (w.pred(entry)) w.resolve(entry);
      else this.waiters.push(w);
    }
    return entry;
  }

  clearTimeout(timer: Timer | undefined): void {
    const entry = this.entries.find((e) => e === timer);
    if (entry !== undefined) entry.cleared = true;
  }

  /** Timers set and neither fired nor cleared. */
  pending(): ManualTimer[] {
    return this.entries.filter((e) => !e.fired && !e.cleared);
  }

  /** Resolves with the first timer (already pending, or set later) that matches. */
  whenScheduled(pred: (t: ManualTimer) => boolean): Promise<ManualTimer> {
    const seen = this.pending().find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  /** Moves the clock forward by ms, firing every timer that falls due on the way (those they set too). */
  advance(ms: number): void {
    const until = this.t + ms;
    for (let fires = 0; ; fires++) {
      if (fires === MAX_FIRES_PER_ADVANCE) throw new Error(`manual clock: ${fires} timers fired without time passing`);
      const next = this.pending()
        .filter((e) => e.due <= until)
        .sort((a, b) => a.due - b.due || (a as Entry).order - (b as Entry).order)[0] as Entry | undefined;
      if (next === undefined) break;
      this.t = Math.max(this.t, next.due);
      next.fired = true;
      next.fn();
    }
    this.t = until;
  }
}
