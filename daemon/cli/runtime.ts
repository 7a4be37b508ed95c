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
 * Waits for SIGTERM or SIGINT, then runs `close`. Resolves with the exit code: 0 after a clean
 * close, 1 if closing failed. A second signal while closing exits immediately with 130.
 */
export function untilSignal(close: () => Promise<void>, logger: Logger): Promise<number> {
  return new Promise((done) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (closing) {
        logger.warn({ signal }, 'second signal while shutting down: exiting now');
        process.exit(130);
      }
      closing = true;
      logger.info({ signal }, 'shutting down');
      close().then(
        () => {
          logger.info('stopped');
          done(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          done(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
