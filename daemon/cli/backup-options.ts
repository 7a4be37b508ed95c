/**
 * Options shared by `ratchetd backup` and `ratchetd restore`: the data dir's at-rest key (the same
 * --key-file / --passphrase-file as `ratchetd daemon`) and the backup passphrase
 * (--backup-passphrase-file F, or the passphrase itself in RATCHETD_BACKUP_PASSPHRASE).
 */
import { resolve } from 'node:path';
import { ARGON2ID_COSTS, type Argon2idCost, type Argon2idCostName } from '../../crypto/password-hash.ts';
import type { AtRestKey } from '../backup/data-dir-backup.ts';
import { stringOption, UsageError, type Parsed } from './args.ts';
import { readPassphrase } from './passphrase-file.ts';

/** The backup passphrase itself, for environments that hand secrets over as variables. */
export const BACKUP_PASSPHRASE_VARIABLE = 'RATCHETD_BACKUP_PASSPHRASE';

export const AT_REST_KEY_OPTIONS = {
  'key-file': { type: 'string' },
  'passphrase-file': { type: 'string' },
  'backup-passphrase-file': { type: 'string' },
} as const;

export const AT_REST_EXCLUSIVE = [['key-file', 'passphrase-file']] as const;

export const BACKUP_PASSPHRASE_HELP = `  --backup-passphrase-file F
                           the passphrase the backup file is encrypted under (Argon2id); or give
                           the passphrase itself in ${BACKUP_PASSPHRASE_VARIABLE} (the file wins)
`;

export async function parseAtRestKey(values: Parsed['values']): Promise<AtRestKey> {
  const keyFile = stringOption(values, 'key-file');
  const passphraseFile = stringOption(values, 'passphrase-file');
  if (keyFile !== undefined && passphraseFile !== undefined) throw new UsageError('give --key-file or --passphrase-file, not both');
  if (keyFile !== undefined) return { keyFile: resolve(keyFile) };
  if (passphraseFile !== undefined) return { passphrase: await readPassphrase(passphraseFile) };
  return {};
}

export async function backupPassphrase(values: Parsed['values'], env: NodeJS.ProcessEnv): Promise<Uint8Array> {
  const file = stringOption(values, 'backup-passphrase-file');
  if (file !== undefined) return readPassphrase(file);
  const text = env[BACKUP_PASSPHRASE_VARIABLE];
  if (text !== undefined && text !== '') return new Uint8Array(Buffer.from(text, 'utf8'));
  throw new UsageError(`a backup passphrase is required: --backup-passphrase-file F or ${BACKUP_PASSPHRASE_VARIABLE}`);
}

export function parseKdfCost(text: string | undefined): Argon2idCost {
  if (text === undefined) return ARGON2ID_COSTS.moderate;
  if (!Object.prototype.hasOwnProperty.call(ARGON2ID_COSTS, text)) throw new UsageError(`--kdf-cost must be one of ${Object.keys(ARGON2ID_COSTS).join(', ')}`);
  return ARGON2ID_COSTS[text as Argon2idCostName];
}
