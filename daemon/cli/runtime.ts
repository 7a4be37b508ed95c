/**
 * Process plumbing shared by the long-running subcommands: a pino logger on stderr, the one JSON
 * ready line on stdout, and a clean shutdown on SIGTERM/SIGINT (a second signal exits at once).
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from './args.ts';

export function createCliLogger(level: LogLevel, name: string): Logger {
  return pino({ level, name, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

/** Prints the single ready line (JSON) on stdout. */
export function printReadyLine(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ event: 'ready', ...fields })}\n`);
}

/**
 * Installs the SIGTERM/SIGINT handlers at once (a signal that arrives before a handler exists
 * would kill the process with no cleanup, even between printing the ready line and the next
 * statement). `stopWith(close)` waits for the first signal, runs `close`, and resolves with the
 * exit code: 0 after a clean close, 1 if closing failed. A signal before stopWith is called (still
 * starting) exits at once with 1; a second signal while closing exits immediately with 130.
 */
export interface Shutdown {
  stopWith(close: () => Promise<void>): Promise<number>;
  /** Stops as a signal would, but the exit code is 1 (e.g. the engine cannot write its store). */
  fail(reason: string): void;
}

export function listenForShutdown(logger: Logger): Shutdown {
  let waiting = false;
  let closing = false;
  let failed = false;
  let onFirst: (signal: NodeJS.Signals) => void = () => undefined;
  const first = new Promise<NodeJS.Signals>((done) => {
    onFirst = done;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) {
      logger.warn({ signal }, 'second signal while shutting down: exiting now');
      process.exit(130);
    }
    if (!waiting) {
      logger.warn({ signal }, 'signal while starting: exiting now');
      process.exit(1);
    }
    onFirst(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    async stopWith(close) {
      waiting = true;
      const signal = await first;
      closing = true;
      logger.info({ signal }, 'shutting down');
      try {
        await close();
        logger.info('stopped');
        return failed ? 1 : 0;
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
        return 1;
      }
    },
    fail(reason) {
      if (failed || closing) return;
      failed = true;
      logger.fatal({ reason }, 'fatal error: shutting down (exit code 1)');
      if (waiting) onFirst('SIGTERM');
      else process.exit(1);
    },
  };
}
