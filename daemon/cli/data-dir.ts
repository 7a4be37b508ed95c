/**
 * Checks a --data directory before anything opens it: an existing writable directory is used as
 * is; a missing one is created (mode 0700) only when its parent exists, so a typo in a parent
 * path fails with a clear line instead of creating a tree somewhere unexpected.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CliFailure } from './args.ts';

export async function prepareDataDir(path: string): Promise<string> {
  const dir = resolve(path);
  const info = await stat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new CliFailure(`data dir ${dir} cannot be read (${e.code ?? 'error'})`);
  });
  if (info === undefined) {
    const parent = dirname(dir);
    const parentInfo = await stat(parent).catch(() => undefined);
    if (parentInfo === undefined || !parentInfo.isDirectory()) {
      throw new CliFailure(`data dir ${dir} does not exist, nor does its parent (create it with: mkdir -p ${dir})`);
    }
    await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw new CliFailure(`cannot create data dir ${dir} (${e.code ?? 'error'})`);
    });
    return dir;
  }
  if (!info.isDirectory()) throw new CliFailure(`data dir ${dir} is not a directory`);
  await access(dir, constants.W_OK | constants.X_OK).catch(() => {
    throw new CliFailure(`data dir ${dir} is not writable`);
  });
  return dir;
}
