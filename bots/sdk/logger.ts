/**
 * The SDK's logging surface: three methods, so any logger (pino, console, a test spy) fits. The
 * SDK never logs message bodies.
 */
export interface BotLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type BotLogLevel = 'info' | 'warn' | 'error' | 'silent';

const RANK: Record<BotLogLevel, number> = { info: 0, warn: 1, error: 2, silent: 3 };

/** One line per entry on stderr (stdout stays free for a program's own output). */
export function stderrLogger(level: BotLogLevel = 'info', name = 'bot'): BotLogger {
  const write = (at: Exclude<BotLogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (RANK[at] < RANK[level]) return;
    const extra = fields === undefined ? '' : ` ${JSON.stringify(fields)}`;
    process.stderr.write(`${name} ${at}: ${message}${extra}\n`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

export const silentLogger: BotLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
