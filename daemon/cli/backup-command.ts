/** `ratchetd backup`: writes an encrypted backup of a stopped daemon's data dir. */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve, basename } from 'node:path';
import { loadCrypto } from '../../crypto/index.ts';
import { encodeBackupContents } from '../backup/backup-contents.ts';
import { sealBackup } from '../backup/backup-file.ts';
import { backupDataDir } from '../backup/data-dir-backup.ts';
import { attributeToEnvironment, CliFailure, environmentHelp, parseCommandArgs, requiredOption, stringOption, type Parsed } from './args.ts';
import { AT_REST_EXCLUSIVE, AT_REST_KEY_OPTIONS, BACKUP_PASSPHRASE_HELP, backupPassphrase, parseAtRestKey, parseKdfCost } from './backup-options.ts';

export const BACKUP_HELP = `Usage: ratchetd backup --data DIR --out FILE [options]

Writes an encrypted backup of a STOPPED daemon's data dir to FILE (mode 0600, replaced atomically):
its identity key, prekeys, contacts and trust decisions, inbox, outbox and, for each contact, the
conversation's transcript position — but no session state: no ratchet, chain or message key is in
the file. Restore it with "ratchetd restore"; the restored daemon starts fresh sessions with every
contact by itself (they need to do nothing). The daemon must be stopped: its store is locked while
it runs, and a backup of a running daemon would be out of date at once. After a migration, do not
start the old data dir again (two daemons would then speak for one identity). A backup older than
the daemon's last messages still restores (contacts re-align on it), but what the old data dir
received after the backup is gone.
Prints one JSON line: {"event":"backup","userId":"...","file":"...","records":N,"contacts":N}

Options:
  --data DIR               the daemon's data dir (the daemon stopped)
  --out FILE               the backup file to write
  --key-file F             the data dir's at-rest key file (default DIR/store.key)
  --passphrase-file F      the data dir's at-rest passphrase instead (as given to ratchetd daemon)
${BACKUP_PASSPHRASE_HELP}  --kdf-cost LEVEL         Argon2id cost: interactive (64 MiB), moderate (256 MiB, default)
                           or sensitive (1 GiB); restore needs as much memory
  -h, --help               show this help
`;

const OPTIONS = {
  data: { type: 'string' },
  out: { type: 'string' },
  ...AT_REST_KEY_OPTIONS,
  'kdf-cost': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Writes `bytes` to `path` through a temporary file in the same directory (fsynced, renamed). */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (e) {
    throw new CliFailure(`cannot write the backup file in ${dirname(path)} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw new CliFailure(`cannot write the backup file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export async function runBackupCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS, false, { env, exclusive: AT_REST_EXCLUSIVE });
  if (parsed.values['help'] === true) {
    process.stdout.write(BACKUP_HELP + environmentHelp(OPTIONS));
    return 0;
  }
  return attributeToEnvironment(parsed, () => runBackup(parsed, env));
}

async function runBackup({ values }: Parsed, env: NodeJS.ProcessEnv): Promise<number> {
  const dataDir = resolve(requiredOption(values, 'data', 'DIR'));
  const out = resolve(requiredOption(values, 'out', 'FILE'));
  const cost = parseKdfCost(stringOption(values, 'kdf-cost'));
  const key = await parseAtRestKey(values);
  const passphrase = await backupPassphrase(values, env);
  const { crypto } = await loadCrypto();
  const contents = await backupDataDir(crypto, dataDir, key, Date.now());
  const encoded = encodeBackupContents(contents);
  const file = await sealBackup(crypto, encoded, passphrase, cost);
  crypto.zero(encoded);
  crypto.zero(passphrase);
  await writeAtomically(out, file);
  const contacts = contents.records.filter((r) => r.kind === 'contact').length;
  process.stdout.write(`${JSON.stringify({ event: 'backup', userId: contents.userId, file: out, records: contents.records.length, contacts })}\n`);
  return 0;
}
