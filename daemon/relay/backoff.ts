/**
 * Reconnect delays: exponential with "equal jitter" (half fixed, half random), so a broker restart
 * is not met by every daemon at the same instant, and a dead broker is not hammered.
 */
export interface BackoffPolicy {
  /** First delay (ms). */
  readonly initialMs: number;
  /** Largest delay (ms). */
  readonly maxMs: number;
  /** Growth per failed attempt. */
  readonly factor: number;
}

export const DEFAULT_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 30_000, factor: 2 };

/** Delay before attempt number `attempt` (0 = first retry); random() in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.min(attempt, 52));
  return Math.max(1, Math.round(base / 2 + (base / 2) * random()));
}
