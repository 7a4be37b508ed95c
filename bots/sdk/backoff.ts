/**
 * Exponential backoff with jitter, for reconnecting to the daemon and for retrying a failed
 * handler. "Equal jitter": half of the exponential step is fixed, the other half random, so a
 * fleet of bots that lose their daemons together does not come back in lockstep, and no retry is
 * ever immediate.
 */

export interface BackoffOptions {
  /** Delay before the first retry (ms). */
  initialDelayMs?: number;
  /** Largest delay (ms); the exponential growth stops here. */
  maxDelayMs?: number;
}

export interface Backoff {
  /** Delay (ms) before retry number `attempt` (0 = first retry). */
  delay(attempt: number): number;
}

export function createBackoff(options: BackoffOptions, defaults: Required<BackoffOptions>, random: () => number = Math.random): Backoff {
  const initial = options.initialDelayMs ?? defaults.initialDelayMs;
  const max = Math.max(initial, options.maxDelayMs ?? defaults.maxDelayMs);
  if (!(initial > 0) || !Number.isFinite(max)) throw new RangeError('backoff delays must be positive and finite');
  return {
    delay(attempt: number): number {
      // 2^attempt overflows to Infinity for huge attempts; min() caps it first.
      const step = Math.min(max, initial * 2 ** Math.max(0, attempt));
      return Math.round(step / 2 + random() * (step / 2));
    },
  };
}

/** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal?.aborted === true) return done();
    const onAbort = (): void => {
      clearTimeout(timer);
      done();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      done();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
