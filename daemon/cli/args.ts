/**
 * Argument parsing for the subcommands: node:util parseArgs in strict mode, with its errors turned
 * into one clear UsageError line, and parsers for ports, host:port pairs, URLs and log levels.
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
}

export function parseCommandArgs(argv: readonly string[], options: Options, allowPositionals = false): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (e) {
    const message = e instanceof Error ? e.message.split('\n')[0] ?? 'invalid arguments' : 'invalid arguments';
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/, '').replace(/\.$/, ''));
  }
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
