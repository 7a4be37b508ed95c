/**
 * Backup and restore of a data dir (`ratchetd backup` / `ratchetd restore`).
 *
 * backup: the daemon must be stopped. Its LevelDB store is locked while it runs, and a backup of a
 * running daemon would be stale the moment it is taken (its transcripts move on with every message,
 * and a restore of an older transcript makes the peers see a fork). So the store is opened as the
 * daemon opens it (same key file or passphrase), which fails with DataDirInUse while the daemon
 * holds the lock, and nothing else is locked or written.
 *
 * restore: the backup is decrypted and checked completely before anything is created; the target
 * must be a new or empty directory (a key file given for it may already be there); the new store
 * gets its own at-rest key (a new key file, or the passphrase given) and all records in one batch.
 * If anything fails after the directory was touched, what the restore created is removed again.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Crypto } from '../../core/crypto.ts';
import { storeMigrations } from '../engine/store-migrations.ts';
import { openDataDirStore, STORE_DIR } from '../store/open-store.ts';
import { DEFAULT_KEY_FILE, SALT_FILE, type ScryptParams } from '../store/store-key.ts';
import { StoreError, type Store } from '../store/store.ts';
import { collectBackup, restoreOps, type BackupContents } from './backup-contents.ts';
import { BackupError } from './errors.ts';

export interface AtRestKey {
  /** Passphrase of the data dir's at-rest key (scrypt), instead of a key file. */
  passphrase?: Uint8Array;
  /** The key file (default DIR/store.key). */
  keyFile?: string;
  scrypt?: ScryptParams;
}

function causeCodes(e: unknown): string[] {
  const codes: string[] = [];
  for (let c: unknown = e; c instanceof Error && codes.length < 8; c = c.cause) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    },
  );
}

/** Opens a stopped daemon's store; DataDirInUse while a daemon runs on it, NoStore if there is none. */
export async function openStoppedDataDir(crypto: Crypto, dataDir: string, key: AtRestKey): Promise<Store> {
  const dir = resolve(dataDir);
  if (!(await exists(join(dir, STORE_DIR, 'CURRENT')))) throw new BackupError('NoStore', `${dir} holds no ratchetd store (no ${join(STORE_DIR, 'CURRENT')})`);
  try {
    // An older store is migrated first, as the daemon's next start would do.
    return await openDataDirStore({ dataDir: dir, crypto, ...key, migrations: storeMigrations(crypto) });
  } catch (e) {
    if (e instanceof StoreError && causeCodes(e).includes('LEVEL_LOCKED')) {
      throw new BackupError('DataDirInUse', `the store in ${dir} is locked (${join(dir, STORE_DIR, 'LOCK')} is held): a daemon is running on this data dir; stop it, then back it up`, { cause: e });
    }
    throw e;
  }
}

/** Everything to back up from a stopped daemon's data dir. */
export async function backupDataDir(crypto: Crypto, dataDir: string, key: AtRestKey, now: number): Promise<BackupContents> {
  const store = await openStoppedDataDir(crypto, dataDir, key);
  try {
    return await collectBackup(crypto, store, now);
  } finally {
    await store.close();
  }
}

/** Fails (TargetNotEmpty, BadTarget) unless `dir` is missing (with an existing parent) or holds only `allowed` names. */
async function checkTarget(dir: string, allowed: ReadonlySet<string>): Promise<'missing' | 'empty'> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (!(await exists(dirname(dir)))) throw new BackupError('BadTarget', `neither ${dir} nor its parent exists (create the parent first)`);
      return 'missing';
    }
    if (code === 'ENOTDIR') throw new BackupError('BadTarget', `${dir} is not a directory`);
    throw e;
  }
  const others = entries.filter((e) => !allowed.has(e));
  if (others.length > 0) {
    throw new BackupError('TargetNotEmpty', `${dir} is not empty (${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''}): restore into a new or empty directory, never over a data dir`);
  }
  return 'empty';
}

/** Restores checked contents into a new data dir. */
export async function restoreDataDir(crypto: Crypto, contents: BackupContents, dataDir: string, key: AtRestKey): Promise<void> {
  const dir = resolve(dataDir);
  const keyFile = key.keyFile === undefined ? undefined : resolve(key.keyFile);
  const allowed = new Set(keyFile !== undefined && dirname(keyFile) === dir ? [basename(keyFile)] : []);
  const before = await checkTarget(dir, allowed);
  // what this restore may create, removed again if it fails
  const created = [join(dir, STORE_DIR), join(dir, SALT_FILE), ...(keyFile === undefined && key.passphrase === undefined ? [join(dir, DEFAULT_KEY_FILE)] : [])];
  const keyFileExisted = keyFile !== undefined && (await exists(keyFile));
  if (keyFile !== undefined && !keyFileExisted) created.push(keyFile);
  try {
    const store = await openDataDirStore({ dataDir: dir, crypto, ...key, ...(keyFile !== undefined ? { keyFile } : {}) });
    try {
      await store.batch(restoreOps(contents));
    } finally {
      await store.close();
    }
  } catch (e) {
    if (before === 'missing') await rm(dir, { recursive: true, force: true });
    else for (const p of created) await rm(p, { recursive: true, force: true });
    throw e;
  }
}
