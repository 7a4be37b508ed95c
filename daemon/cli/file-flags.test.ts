/**
 * `ratchetd daemon`'s file flags: sizes and durations parsed with their units, each flag becoming
 * its FileOptions field (nothing given: the engine's defaults), mistakes one usage line before
 * anything starts (naming the RATCHETD_ variable when it came from one), and --help listing them.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_FILE_OPTIONS } from '../engine/files/file-options.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { FILE_OPTIONS, parseByteSize, parseDuration, parseFileFlags } from './file-flags.ts';
import { runCli } from './spawn-cli.ts';

const flags = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseFileFlags(parseCommandArgs(argv, FILE_OPTIONS, false, { env }).values);

describe('file flags', () => {
  it('parses sizes in bytes or K, M, G, T (binary), and durations in s, m, h, d', () => {
    expect(parseByteSize('1048576', '--x')).toBe(1048576);
    expect(parseByteSize('512K', '--x')).toBe(512 * 1024);
    expect(parseByteSize('64m', '--x')).toBe(64 * 1024 ** 2);
    expect(parseByteSize('10G', '--x')).toBe(10 * 1024 ** 3);
    expect(parseByteSize('2TiB', '--x')).toBe(2 * 1024 ** 4);
    expect(parseByteSize('3MB', '--x')).toBe(3 * 1024 ** 2);
    for (const bad of ['', 'ten', '1.5G', '-1', '5P', '1 G B']) expect(() => parseByteSize(bad, '--file-quota')).toThrow(UsageError);
    expect(parseDuration('90', '--x')).toBe(90_000);
    expect(parseDuration('90s', '--x')).toBe(90_000);
    expect(parseDuration('30m', '--x')).toBe(1_800_000);
    expect(parseDuration('24h', '--x')).toBe(86_400_000);
    expect(parseDuration('7d', '--x')).toBe(7 * 86_400_000);
    for (const bad of ['', '1w', '1.5h', 'h', '-5m']) expect(() => parseDuration(bad, '--x')).toThrow(UsageError);
  });

  it('each flag sets its FileOptions field; none leaves the engine defaults', () => {
    expect(flags([])).toEqual({});
    expect(flags(['--file-quota', '1G', '--file-window', '64', '--file-incomplete-timeout', '2h', '--retain-attachments'])).toEqual({
      quotaBytes: 1024 ** 3,
      windowChunks: 64,
      incompleteTimeoutMs: 7_200_000,
      retainAttachments: true,
    });
    // the same from RATCHETD_ variables
    expect(flags([], { RATCHETD_FILE_QUOTA: '5M', RATCHETD_FILE_WINDOW: '8', RATCHETD_FILE_INCOMPLETE_TIMEOUT: '1m', RATCHETD_RETAIN_ATTACHMENTS: 'yes' })).toEqual({
      quotaBytes: 5 * 1024 ** 2,
      windowChunks: 8,
      incompleteTimeoutMs: 60_000,
      retainAttachments: true,
    });
    expect(flags([], { RATCHETD_RETAIN_ATTACHMENTS: 'off' })).toEqual({});
    expect(DEFAULT_FILE_OPTIONS.retainAttachments).toBe(false);
  });

  it.each([
    [['--file-quota', '0'], '--file-quota must be more than 0 bytes'],
    [['--file-quota', 'lots'], '--file-quota must be a size in bytes'],
    [['--file-window', '0'], '--file-window must be a number of chunks from 8 to 1024, not "0"'],
    [['--file-window', '7'], '--file-window must be a number of chunks from 8 to 1024'],
    [['--file-window', '1025'], '--file-window must be a number of chunks from 8 to 1024'],
    [['--file-incomplete-timeout', '59s'], '--file-incomplete-timeout must be at least 1m'],
    [['--file-incomplete-timeout', 'soon'], '--file-incomplete-timeout must be a duration like 90s'],
  ])('%j is a usage error', (argv, message) => {
    expect(() => flags(argv)).toThrow(UsageError);
    expect(() => flags(argv)).toThrow(message);
  });

  it('through the executable: a bad value is one usage line (naming the variable), exit 2; --help documents every flag and variable', async () => {
    const base = ['daemon', '--data', '/tmp/ratchetd-never-created', '--broker', 'mqtt://127.0.0.1:1'];
    const flag = await runCli([...base, '--file-quota', '12X']);
    expect([flag.code, flag.stdout]).toEqual([2, '']);
    expect(flag.stderr).toMatch(/^ratchetd daemon: --file-quota must be a size in bytes, optionally with K, M, G or T \(e\.g\. 512M, 10G\), not "12X"/);
    const env = await runCli(base, { env: { RATCHETD_FILE_WINDOW: '2' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('RATCHETD_FILE_WINDOW (--file-window) must be a number of chunks from 8 to 1024, not "2"');
    const help = await runCli(['daemon', '--help']);
    expect(help.code).toBe(0);
    for (const text of ['--file-quota SIZE', '--file-window N', '--file-incomplete-timeout DURATION', '--retain-attachments', 'RATCHETD_FILE_QUOTA', 'RATCHETD_FILE_WINDOW', 'RATCHETD_FILE_INCOMPLETE_TIMEOUT', 'RATCHETD_RETAIN_ATTACHMENTS']) {
      expect(help.stdout).toContain(text);
    }
  });
});
