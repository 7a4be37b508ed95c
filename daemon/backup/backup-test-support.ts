/** Tests: back up a stopped test daemon's store and restore it into a new in-memory store. Not a test file. */
import type { Crypto } from '../../core/crypto.ts';
import { ARGON2ID_COSTS } from '../../crypto/password-hash.ts';
import { createMemoryBackend, type MemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { collectBackup, decodeBackupContents, encodeBackupContents, restoreOps, type BackupContents } from './backup-contents.ts';
import { openBackup, sealBackup } from './backup-file.ts';

/** The cheapest Argon2id cost libsodium names (tests only: keeps each derivation well under a second). */
export const TEST_COST = { opslimit: 1, memlimit: 8 * 1024 * 1024 };
export const DEFAULT_COST = ARGON2ID_COSTS.moderate;

/** The encrypted backup file of a store. */
export async function backupFile(crypto: Crypto, store: Store, passphrase: Uint8Array, now = Date.now()): Promise<Uint8Array> {
  return sealBackup(crypto, encodeBackupContents(await collectBackup(crypto, store, now)), passphrase, TEST_COST);
}

/** Decrypts and decodes a backup file. */
export async function readBackupFile(crypto: Crypto, file: Uint8Array, passphrase: Uint8Array): Promise<BackupContents> {
  return decodeBackupContents(crypto, await openBackup(crypto, file, passphrase));
}

/** Restores a backup file into a fresh memory backend under `storeKey`. */
export async function restoreToMemory(crypto: Crypto, file: Uint8Array, passphrase: Uint8Array, storeKey: Uint8Array): Promise<MemoryBackend> {
  const contents = await readBackupFile(crypto, file, passphrase);
  const backend = createMemoryBackend();
  const store = await openMemoryStore(crypto, storeKey, backend);
  await store.batch(restoreOps(contents));
  await store.close();
  return backend;
}
