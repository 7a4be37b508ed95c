/**
 * Pending waitForMessage calls: each has a filter and settles exactly once — with the first
 * matching message, or with an error on timeout, abort or stop.
 */
import type { MessageContext } from './context.ts';
import type { Waiter } from './router.ts';

export class BotStoppedError extends Error {
  constructor() {
    super('the bot stopped');
    this.name = 'BotStoppedError';
  }
}

export class BotTimeoutError extends Error {
  constructor(ms: number) {
    super(`no matching message within ${ms} ms`);
    this.name = 'BotTimeoutError';
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class Waiters {
  private readonly pending = new Map<Waiter, (e: Error) => void>();

  /** The first pending waiter whose filter matches (resolving it removes it). */
  find(ctx: MessageContext): Waiter | undefined {
    for (const waiter of this.pending.keys()) if (waiter.match(ctx)) return waiter;
    return undefined;
  }

  add(match: (ctx: MessageContext) => boolean, options: WaitOptions): Promise<MessageContext> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(waiter);
      };
      const fail = (e: Error): void => {
        settle();
        reject(e);
      };
      const onAbort = (): void => fail(options.signal?.reason instanceof Error ? options.signal.reason : new BotStoppedError());
      const waiter: Waiter = {
        match,
        resolve: (ctx) => {
          settle();
          resolve(ctx);
        },
      };
      this.pending.set(waiter, fail);
      if (options.timeoutMs !== undefined) timer = setTimeout(() => fail(new BotTimeoutError(options.timeoutMs ?? 0)), options.timeoutMs);
      if (options.signal?.aborted === true) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  rejectAll(error: Error): void {
    for (const fail of [...this.pending.values()]) fail(error);
  }
}
