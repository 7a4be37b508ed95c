/**
 * Process plumbing for bot programs (called by their entry files only): the common flags
 * (--socket / --tcp + token, --log-level), a run loop that prints one JSON ready line on stdout
 * and stops gracefully on SIGINT/SIGTERM, and a main wrapper that turns failures into one line on
 * stderr and an exit code (2 for usage mistakes, 1 for anything else).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Bot } from './bot.ts';
import type { DaemonTarget } from './connect.ts';
import { stderrLogger, type BotLogger, type BotLogLevel } from './logger.ts';

export class ArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgsError';
  }
}

class HelpRequested extends Error {}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: false };

export const DAEMON_FLAGS_HELP = `  --socket PATH        the daemon's API socket (default: $RATCHETD_SOCKET)
  --tcp HOST:PORT      connect over TCP instead; needs --token, --token-file or $RATCHETD_TOKEN
  --token T | --token-file F
  --connect-timeout S  how long to wait for the daemon (default 10 seconds)
  --log-level LEVEL    info (default), warn, error or silent; logs go to stderr
  -h, --help           show this help`;

const COMMON: Record<string, OptionSpec> = {
  socket: { type: 'string' },
  tcp: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'log-level': { type: 'string' },
  'connect-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export interface ParsedBotArgs {
  target: DaemonTarget;
  logger: BotLogger;
  /** What connect() needs: the target, the logger and the connect timeout. */
  connect: DaemonTarget & { logger: BotLogger; connectTimeoutMs: number };
  positionals: string[];
  string(name: string): string | undefined;
  flag(name: string): boolean;
  /** A finite number ≥ min, or the default when absent. */
  number(name: string, fallback: number, min?: number): number;
}

function daemonTarget(values: Record<string, unknown>, env: NodeJS.ProcessEnv): DaemonTarget {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const tcp = str('tcp');
  if (tcp !== undefined) {
    if (str('socket') !== undefined) throw new ArgsError('give --socket or --tcp, not both');
    const file = str('token-file');
    let token = str('token') ?? env['RATCHETD_TOKEN'];
    if (file !== undefined) {
      try {
        token = readFileSync(file, 'utf8').trim();
      } catch {
        throw new ArgsError(`cannot read the token file ${file}`);
      }
    }
    if (token === undefined || token === '') throw new ArgsError('--tcp needs --token, --token-file or $RATCHETD_TOKEN');
    return { tcp: /^\d+$/.test(tcp) ? `127.0.0.1:${tcp}` : tcp, token };
  }
  const socket = str('socket') ?? (env['RATCHETD_SOCKET'] === '' ? undefined : env['RATCHETD_SOCKET']);
  if (socket === undefined) throw new ArgsError('give --socket PATH (or --tcp HOST:PORT with a token)');
  return { socket };
}

/** Parses the common flags plus `extra`; --help throws so that runMain prints the usage. */
export function parseBotArgs(argv: readonly string[], extra: Record<string, OptionSpec> = {}, env: NodeJS.ProcessEnv = process.env): ParsedBotArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...COMMON, ...extra }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new ArgsError((e as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values['help'] === true) throw new HelpRequested();
  const level = (values['log-level'] as string | undefined) ?? 'info';
  if (!['info', 'warn', 'error', 'silent'].includes(level)) throw new ArgsError('--log-level must be info, warn, error or silent');
  const string = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const number = (name: string, fallback: number, min = 0): number => {
    const text = string(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min) throw new ArgsError(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const target = daemonTarget(values, env);
  const logger = stderrLogger(level as BotLogLevel);
  return {
    target,
    logger,
    connect: { ...target, logger, connectTimeoutMs: number('connect-timeout', 10, 0.001) * 1000 },
    positionals: parsed.positionals,
    string,
    flag: (name) => values[name] === true,
    number,
  };
}

/** Resolves at the first SIGINT/SIGTERM; a second one exits at once with 130. */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    let seen = false;
    const on = (signal: NodeJS.Signals): void => {
      if (seen) process.exit(130);
      seen = true;
      done(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** Starts the bot, prints {"event":"ready","bot":NAME,"userId":…}, runs until a signal, stops. */
export async function runBot(bot: Bot, name: string, logger: BotLogger = stderrLogger()): Promise<number> {
  const signal = firstSignal();
  const started = await Promise.race([bot.start().then(() => true), signal.then(() => false)]);
  if (started) {
    process.stdout.write(`${JSON.stringify({ event: 'ready', bot: name, userId: bot.userId })}\n`);
    logger.info(`${name} bot ready`, { userId: bot.userId });
    logger.info(`stopping on ${await signal}`);
  }
  await bot.stop();
  return 0;
}

/** Runs an entry file's main: usage → stdout (exit 0), ArgsError → exit 2, other errors → exit 1. */
export function runMain(usage: string, main: (argv: string[]) => Promise<number>): void {
  const finish = (code: number): void => {
    // Exit explicitly once stdout is flushed: a closed gRPC channel may leave handles behind.
    process.stdout.write('', () => process.exit(code));
  };
  main(process.argv.slice(2)).then(finish, (e: unknown) => {
    if (e instanceof HelpRequested) {
      process.stdout.write(usage);
      return finish(0);
    }
    const text = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
    process.stderr.write(`${text}${e instanceof ArgsError ? ' (see --help)' : ''}\n`);
    finish(e instanceof ArgsError ? 2 : 1);
  });
}
