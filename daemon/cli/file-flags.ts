/**
 * `ratchetd daemon`'s file transfer flags (and so their RATCHETD_ variables, args.ts): the files
 * quota, the sender's window, the incomplete-transfer timeout and attachment retention after the
 * ack — the FileOptions (daemon/engine/files/file-options.ts) an operator sets. Usage errors only,
 * no I/O; what is not given keeps the engine's default.
 */
import { DEFAULT_FILE_OPTIONS, MAX_FILE_WINDOW_CHUNKS, type FileOptions } from '../engine/files/file-options.ts';
import { FILE_CHUNK_BYTES } from '../../core/file/format.ts';
import { stringOption, UsageError } from './args.ts';

export const FILE_OPTIONS = {
  'file-quota': { type: 'string' },
  'file-window': { type: 'string' },
  'file-incomplete-timeout': { type: 'string' },
  'retain-attachments': { type: 'boolean' },
} as const;

export { MAX_FILE_WINDOW_CHUNKS };
/**
 * Fewest: the recipient reports every progressEveryChunks chunks stored or when the chunks pause
 * (PAUSE_REPORT_MS), so a window below the report interval waits that pause once per window.
 */
export const MIN_FILE_WINDOW_CHUNKS = 8;
/** Shortest incomplete-transfer timeout: below a few resend periods a slow transfer would be given up. */
export const MIN_INCOMPLETE_TIMEOUT_MS = 60_000;

const GIB = 1024 ** 3;
const defaultQuota = `${DEFAULT_FILE_OPTIONS.quotaBytes / GIB}G`;
const defaultTimeout = `${DEFAULT_FILE_OPTIONS.incompleteTimeoutMs / 3600_000}h`;

export const FILE_HELP = `  --file-quota SIZE        disk budget for files, both directions (sealed chunks of files being
                           sent and received, and attachments kept): bytes, or with K, M, G, T
                           (KiB ... TiB); a file that would pass it is refused with
                           FileQuotaExceeded (gRPC RESOURCE_EXHAUSTED, HTTP 429) (default ${defaultQuota})
  --file-window N          chunks of ${FILE_CHUNK_BYTES / 1024} KiB a sender keeps ahead of what the recipient has
                           stored (${MIN_FILE_WINDOW_CHUNKS} to ${MAX_FILE_WINDOW_CHUNKS}, default ${DEFAULT_FILE_OPTIONS.windowChunks}): what one transfer puts on the
                           relay's queue for the recipient; keep it below the relay's queue
                           limit
  --file-incomplete-timeout DURATION
                           give up a transfer without progress for this long and delete its
                           files: 90s, 30m, 24h, 7d (a bare number is seconds; at least 1m;
                           default ${defaultTimeout})
  --retain-attachments     keep received files after their message is acked (by default the ack
                           deletes them: download first); they count against --file-quota
`;

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const DURATION_UNITS: Record<string, number> = { '': 1000, s: 1000, m: 60_000, h: 3600_000, d: 24 * 3600_000 };

/** "1048576", "512K", "10G" (binary units, case-insensitive, an optional trailing B or iB). */
export function parseByteSize(text: string, flag: string): number {
  const m = /^(\d{1,15})\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const n = m === null ? NaN : Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? NaN);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} must be a size in bytes, optionally with K, M, G or T (e.g. 512M, 10G), not "${text}"`);
  return n;
}

/** "90s", "30m", "24h", "7d", or a bare number of seconds → ms. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d{1,12})\s*([smhd]?)$/.exec(text.trim());
  const ms = m === null ? NaN : Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${flag} must be a duration like 90s, 30m, 24h or 7d, not "${text}"`);
  return ms;
}

export function parseFileFlags(values: Record<string, string | boolean | undefined>): Partial<FileOptions> {
  const out: Partial<FileOptions> = {};
  const quota = stringOption(values, 'file-quota');
  if (quota !== undefined) {
    const bytes = parseByteSize(quota, '--file-quota');
    if (bytes === 0) throw new UsageError('--file-quota must be more than 0 bytes');
    out.quotaBytes = bytes;
  }
  const window = stringOption(values, 'file-window');
  if (window !== undefined) {
    const n = /^\d{1,5}$/.test(window) ? Number(window) : NaN;
    if (!(n >= MIN_FILE_WINDOW_CHUNKS && n <= MAX_FILE_WINDOW_CHUNKS)) {
      throw new UsageError(`--file-window must be a number of chunks from ${MIN_FILE_WINDOW_CHUNKS} to ${MAX_FILE_WINDOW_CHUNKS}, not "${window}"`);
    }
    out.windowChunks = n;
  }
  const timeout = stringOption(values, 'file-incomplete-timeout');
  if (timeout !== undefined) {
    const ms = parseDuration(timeout, '--file-incomplete-timeout');
    if (ms < MIN_INCOMPLETE_TIMEOUT_MS) throw new UsageError(`--file-incomplete-timeout must be at least 1m, not "${timeout}"`);
    out.incompleteTimeoutMs = ms;
  }
  if (values['retain-attachments'] === true) out.retainAttachments = true;
  return out;
}
