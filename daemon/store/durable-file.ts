/**
 * Creating a small file (a key, a salt, a token) so that after a power cut it is either absent or
 * whole, never empty or half-written, and its directory entry is on disk before we go on: the data
 * is written to a temporary file beside it and fsynced, then linked to its name (which fails if the
 * name exists, like an exclusive create), and the directory is fsynced. A store written under a key
 * whose file a power cut then took away could never be opened again.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Errors of link(2) on file systems without hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** fsync of a directory: the entries created or renamed in it are on disk. */
export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Creates `path` holding `data` with `mode`, durably. Fails with EEXIST (like `open(path, 'wx')`)
 * if the file already exists; leaves no temporary file behind.
 */
export async function createFileDurably(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  const temporary = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(temporary, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(temporary, path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (!NO_HARD_LINKS.has(code)) throw e;
      if (await exists(path)) throw Object.assign(new Error(`EEXIST: file already exists, ${path}`), { code: 'EEXIST' });
      await rename(temporary, path);
    }
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  await syncDirectory(dir);
}
