/**
 * GET /v1/messages?cursor=N&wait=S: the unacked messages after a cursor, read through the same
 * subscription as a Receive stream (the engine's replay, then live events). With none stored and a
 * wait, the call waits for the first message the inbox announces — an event, not a timer loop —
 * or for the wait to end, the client to go away or the server to close. Nothing is acked: the
 * client acks with POST /v1/ack and polls again after the last cursor it saw.
 */
import type { Timer, Timers } from '../api/timers.ts';
import type { DaemonApi, InboundMessage } from '../engine/types.ts';

/** Longest long poll (s): below common proxy and load-balancer idle timeouts of a few minutes. */
export const MAX_LONG_POLL_WAIT_S = 120;
/** Messages per answer when the client names no limit. */
export const DEFAULT_POLL_LIMIT = 100;

export interface PollRequest {
  cursor: number;
  limit: number;
  waitMs: number;
}

/** Resolves with up to `limit` unacked messages after `cursor`, oldest first (possibly none). */
export async function pollMessages(backend: DaemonApi, req: PollRequest, timers: Timers, signal: AbortSignal): Promise<InboundMessage[]> {
  const found: InboundMessage[] = [];
  const replayFull = new AbortController(); // stops the replay once `limit` messages are in hand
  let wake: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (wake = resolve));
  const unsubscribe = await backend.subscribe(
    req.cursor,
    (e) => {
      if (e.kind !== 'message' || found.length >= req.limit) return;
      found.push(e.message);
      if (found.length >= req.limit) replayFull.abort();
      wake();
    },
    { signal: replayFull.signal },
  );
  try {
    if (found.length > 0 || req.waitMs <= 0 || signal.aborted) return found;
    let timer: Timer | undefined;
    let onAbort: () => void = () => undefined;
    await new Promise<void>((resolve) => {
      timer = timers.setTimeout(resolve, req.waitMs);
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
      void arrived.then(resolve);
    });
    timers.clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    return found;
  } finally {
    unsubscribe();
  }
}
