/**
 * When the webhook retries: exponential backoff from about a second, capped, with jitter, for at
 * least the retry budget (an hour) after the first attempt; the first failure after the budget
 * makes the message a dead letter.
 */
export interface RetryPolicy {
  /** Delay after the first failed attempt (ms). */
  firstDelayMs: number;
  /** Delays double up to this (ms). */
  maxDelayMs: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
  /** Retries go on at least this long after the first attempt (ms). */
  budgetMs: number;
  /** One attempt gives up after this long (ms). */
  requestTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  firstDelayMs: 1_000,
  // Five minutes: a receiver back up is found within minutes, and an hour costs ~20 attempts.
  maxDelayMs: 5 * 60_000,
  jitter: 0.2,
  budgetMs: 60 * 60_000,
  requestTimeoutMs: 10_000,
};

/** The delay before attempt `failures + 1`, after `failures` (≥ 1) failed attempts. */
export function retryDelayMs(policy: RetryPolicy, failures: number, random: () => number): number {
  const base = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(1, Math.round(base * factor));
}
