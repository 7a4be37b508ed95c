/**
 * Argument parsing for the subcommands: node:util parseArgs in strict mode, with its errors turned
 * into one clear UsageError line, and parsers for ports, host:port pairs, URLs and log levels.
 *
 * Every long option can also come from the environment (one mechanism for every command):
 * `--broker-ca F` ↔ `RATCHETD_BROKER_CA=F` (ENV_PREFIX + the name in upper case, `-` → `_`). A flag
 * on the command line wins; an empty variable counts as unset; a boolean option takes 1, true, yes,
 * on (set) or 0, false, no, off (unset). Only --help has no variable. A usage error about an option
 * that came from the environment names the variable (attributeToEnvironment).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage mistake: printed as one line on stderr, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure at run time (bad data dir, port in use, daemon refused): one line on stderr, exit code 1. */
export class CliFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliFailure';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** Options whose value came from the environment: option name → variable name. */
  fromEnv: ReadonlyMap<string, string>;
}

export interface EnvironmentOptions {
  /** Where the variables are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Groups of options that exclude each other: when one of a group is given as a flag, a variable
   * for another of the group is ignored (a flag wins over the environment, whichever option it sets).
   */
  exclusive?: readonly (readonly string[])[];
}

export const ENV_PREFIX = 'RATCHETD_';
/** Options that never come from the environment. */
const NOT_FROM_ENV = new Set(['help']);
const TRUE_WORDS = ['1', 'true', 'yes', 'on'];
const FALSE_WORDS = ['0', 'false', 'no', 'off'];

/** The environment variable of a long option: broker-ca → RATCHETD_BROKER_CA. */
export function envVariable(option: string): string {
  return `${ENV_PREFIX}${option.toUpperCase().replace(/-/g, '_')}`;
}

export function parseCommandArgs(argv: readonly string[], options: Options, allowPositionals = false, environment: EnvironmentOptions = {}): Parsed {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals });
    parsed = { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (e) {
    const message = e instanceof Error ? e.message.split('\n')[0] ?? 'invalid arguments' : 'invalid arguments';
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/, '').replace(/\.$/, ''));
  }
  const env = environment.env ?? process.env;
  const given = new Set(Object.keys(parsed.values).filter((k) => parsed.values[k] !== undefined));
  const excluded = new Set<string>();
  for (const group of environment.exclusive ?? []) {
    if (group.some((name) => given.has(name))) for (const name of group) excluded.add(name);
  }
  const fromEnv = new Map<string, string>();
  for (const [name, option] of Object.entries(options)) {
    if (NOT_FROM_ENV.has(name) || given.has(name) || excluded.has(name)) continue;
    const variable = envVariable(name);
    const text = env[variable];
    if (text === undefined || text === '') continue;
    if (option.type === 'boolean') {
      const word = text.trim().toLowerCase();
      if (FALSE_WORDS.includes(word)) continue;
      if (!TRUE_WORDS.includes(word)) {
        throw new UsageError(`${variable} (--${name}) must be one of ${TRUE_WORDS.join(', ')} or ${FALSE_WORDS.join(', ')}, not "${text}"`);
      }
      parsed.values[name] = true;
    } else {
      parsed.values[name] = text;
    }
    fromEnv.set(name, variable);
  }
  return { ...parsed, fromEnv };
}

/**
 * Runs a command's work with its parsed options; a UsageError that names an option which came from
 * the environment names the variable too ("RATCHETD_PORT (--port) must be a port number ...").
 */
export async function attributeToEnvironment<T>(parsed: Parsed, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof UsageError) || parsed.fromEnv.size === 0) throw e;
    let message = e.message;
    for (const [name, variable] of parsed.fromEnv) {
      message = message.replace(new RegExp(`(?<![\\w-])--${name}(?![\\w-])`), `${variable} (--${name})`);
    }
    throw message === e.message ? e : new UsageError(message);
  }
}

/** The values without those of `names` that came from the environment (options a subcommand does not take). */
export function withoutEnvironment(parsed: Parsed, names: readonly string[]): Parsed['values'] {
  const values = { ...parsed.values };
  for (const name of names) if (parsed.fromEnv.has(name)) delete values[name];
  return values;
}

/** The help section listing each option's variable (appended to every command's --help). */
export function environmentHelp(options: Options): string {
  const names = Object.keys(options).filter((n) => !NOT_FROM_ENV.has(n));
  const rows = names.map((n) => `  ${envVariable(n).padEnd(39)}--${n}`).join('\n');
  return `
Environment: every option can also be set as a variable, ${ENV_PREFIX} + its name in upper case
with - as _ (a systemd EnvironmentFile, a container's environment); the flag wins when both are
given; an empty variable counts as unset; a boolean option takes ${TRUE_WORDS.join(', ')} or ${FALSE_WORDS.join(', ')}.
${rows}
`;
}

export function stringOption(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} needs a value`);
  return v;
}

export function requiredOption(values: Parsed['values'], name: string, what: string): string {
  const v = stringOption(values, name);
  if (v === undefined) throw new UsageError(`--${name} ${what} is required`);
  return v;
}

export function parsePort(text: string, flag: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${flag} must be a port number 0-65535, not "${text}"`);
  return Number(text);
}

export function parseNonNegativeInt(text: string, flag: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`${flag} must be a non-negative integer, not "${text}"`);
  return Number(text);
}

/** "HOST:PORT", "[v6]:PORT" or "PORT" (host defaults to loopback). */
export function parseHostPort(text: string, flag: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  if (/^\d+$/.test(text)) return { host: defaultHost, port: parsePort(text, flag) };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d+)$/.exec(text);
  if (match === null) throw new UsageError(`${flag} must be HOST:PORT (or PORT), not "${text}"`);
  return { host: match[1] ?? match[2] ?? defaultHost, port: parsePort(match[3] ?? '', flag) };
}

const BROKER_SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];

/** One relay URL: mqtt://, mqtts://, ws:// or wss:// with a host; no credentials in it. */
export function parseBrokerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--broker must be a URL like mqtt://127.0.0.1:1883, not "${text}"`);
  }
  if (!BROKER_SCHEMES.includes(url.protocol)) throw new UsageError(`--broker must use mqtt://, mqtts://, ws:// or wss://, not ${url.protocol}//`);
  if (url.hostname === '') throw new UsageError('--broker needs a host, e.g. mqtt://127.0.0.1:1883');
  if (url.username !== '' || url.password !== '') throw new UsageError('--broker URLs carry no credentials (see --broker-auth)');
  return text;
}

/** `--broker URL[,URL...]`: the nodes of one relay (cluster), tried in turn. */
export function parseBrokerUrls(text: string): string[] {
  const urls = text.split(',').map((u) => u.trim());
  if (urls.some((u) => u === '')) throw new UsageError('--broker: an empty URL in the list');
  return urls.map(parseBrokerUrl);
}

/** `--relay-name NAME`: 1..255 bytes of UTF-8 (the proof's audience), or undefined for the default. */
export function parseRelayName(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (Buffer.byteLength(text) > 255) throw new UsageError('--relay-name must be at most 255 bytes');
  return text;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function parseLogLevel(text: string | undefined): LogLevel {
  const level = text ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return level as LogLevel;
}
