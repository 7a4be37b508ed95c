/**
 * bin/entry.mjs: ratchetd runs from a bundle of the sources, rebuilt when a source changes, and
 * runs the same from the sources through tsx (RATCHETD_FROM_SOURCE=1).
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync, utimesSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain ESM module without typings
import { entryUrl } from '../../bin/entry.mjs';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/ratchetd.mjs', import.meta.url));
const SOURCE = fileURLToPath(new URL('./args.ts', import.meta.url));

describe('bin/entry.mjs', () => {
  it('runs the bundle by default and the sources with RATCHETD_FROM_SOURCE=1, with the same output', async () => {
    const url = (await entryUrl()) as string;
    expect(url).toMatch(/\/dist\/[0-9a-f]{16}\/main\.js$/);
    expect(existsSync(fileURLToPath(url))).toBe(true);
    const bundled = await run(process.execPath, [BIN, '--help']);
    const source = await run(process.execPath, [BIN, '--help'], { env: { ...process.env, RATCHETD_FROM_SOURCE: '1' } });
    expect(bundled.stdout).toContain('Usage:');
    expect(bundled.stdout).toBe(source.stdout);
    expect(bundled.stderr).toBe('');
  });

  it('a changed source file gets a new bundle; its old state maps to the old bundle again', async () => {
    const before = (await entryUrl()) as string;
    const { atime, mtime } = statSync(SOURCE);
    try {
      utimesSync(SOURCE, atime, new Date(mtime.getTime() + 1000));
      const changed = (await entryUrl()) as string;
      expect(changed).not.toBe(before);
      expect(existsSync(fileURLToPath(changed))).toBe(true);
    } finally {
      utimesSync(SOURCE, atime, mtime);
    }
    expect(await entryUrl()).toBe(before);
  });
});
