import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileDurably } from './durable-file.ts';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ratchetd-durable-'));
  dirs.push(d);
  return d;
}

describe('createFileDurably', () => {
  it('creates the file whole, with its mode, and leaves no temporary file', async () => {
    const dir = await tempDir();
    const key = new Uint8Array(32).map((_, i) => i);
    await createFileDurably(join(dir, 'store.key'), key, 0o600);
    expect(new Uint8Array(await readFile(join(dir, 'store.key')))).toEqual(key);
    expect((await stat(join(dir, 'store.key'))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['store.key']);
  });

  it('refuses an existing file (EEXIST) and leaves it untouched', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'store.key'), 'old');
    await expect(createFileDurably(join(dir, 'store.key'), 'new', 0o600)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(join(dir, 'store.key'), 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['store.key']);
  });
});
