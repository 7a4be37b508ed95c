/**
 * Opens the daemon's store in a data dir: `DATA/store/` (LevelDB) under a key from `DATA/store.key`
 * or a passphrase (store-key.ts). The data dir is created with mode 0700 if missing. Every batch is
 * synced; superseded values are scrubbed from the files (level-backend.ts).
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Crypto } from '../../core/crypto.ts';
import { syncDirectory } from './durable-file.ts';
import { openLevelBackend } from './level-backend.ts';
import { createMemoryBackend, type MemoryBackend } from './memory-backend.ts';
import { openStore, type Migration } from './schema.ts';
import { loadStoreKey, type ScryptParams } from './store-key.ts';
import type { ScrubScheduleOptions } from './scrub-schedule.ts';
import type { Store } from './store.ts';

export const STORE_DIR = 'store';

export interface DataStoreOptions {
  dataDir: string;
  crypto: Crypto;
  passphrase?: string | Uint8Array;
  keyFile?: string;
  scrypt?: ScryptParams;
  migrations?: readonly Migration[];
  /** When superseded values are scrubbed from the files (default: every 30 s after writes). */
  scrub?: ScrubScheduleOptions;
}

export async function openDataDirStore(o: DataStoreOptions): Promise<Store> {
  const created = await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  // A new data dir's entry is on disk before anything in it (the key file, the store) is relied on.
  if (created !== undefined) await syncDirectory(dirname(created));
  const location = join(o.dataDir, STORE_DIR);
  let storeExists = true;
  try {
    await stat(join(location, 'CURRENT'));
  } catch {
    storeExists = false;
  }
  const storeKey = await loadStoreKey({
    dataDir: o.dataDir,
    storeExists,
    ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
    ...(o.keyFile !== undefined ? { keyFile: o.keyFile } : {}),
    ...(o.scrypt !== undefined ? { scrypt: o.scrypt } : {}),
  });
  const backend = await openLevelBackend(location, o.scrub !== undefined ? { scrub: o.scrub } : {});
  return openStore({ backend, crypto: o.crypto, storeKey, ...(o.migrations ? { migrations: o.migrations } : {}) });
}

/** An encrypted store over memory (fast tests); pass the same backend again (backend.reopen()) to "restart". */
export async function openMemoryStore(
  crypto: Crypto,
  storeKey: Uint8Array,
  backend: MemoryBackend = createMemoryBackend(),
  migrations?: readonly Migration[],
): Promise<Store> {
  return openStore({ backend, crypto, storeKey: storeKey.slice(), ...(migrations ? { migrations } : {}) });
}
