/** `ratchetd restore`: a new data dir from an encrypted backup. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadCrypto } from '../../crypto/index.ts';
import { decodeBackupContents } from '../backup/backup-contents.ts';
import { openBackup } from '../backup/backup-file.ts';
import { restoreDataDir } from '../backup/data-dir-backup.ts';
import { attributeToEnvironment, CliFailure, environmentHelp, parseCommandArgs, requiredOption, type Parsed } from './args.ts';
import { AT_REST_EXCLUSIVE, AT_REST_KEY_OPTIONS, BACKUP_PASSPHRASE_HELP, backupPassphrase, parseAtRestKey } from './backup-options.ts';

export const RESTORE_HELP = `Usage: ratchetd restore --in FILE --data DIR [options]

Creates a data dir from a backup written by "ratchetd backup". DIR must be new (its parent must
exist) or empty; a data dir that holds anything is refused. The whole file is decrypted and checked
first: a wrong passphrase, or a truncated or altered file, is refused and nothing is written. The
new data dir gets its own at-rest key (a new DIR/store.key, the --key-file given, or the
--passphrase-file given). Then start "ratchetd daemon --data DIR ..." on it: on its first start it
fetches every contact's prekey bundle and starts a fresh session with each (contacts do nothing:
they keep their trust in the same identity key and re-send what it had not acknowledged).
Prints one JSON line: {"event":"restored","userId":"...","data":"...","records":N,"contacts":N}

Options:
  --in FILE                the backup file
  --data DIR               the new data dir
  --key-file F             the new data dir's at-rest key file (default DIR/store.key, created)
  --passphrase-file F      derive the new data dir's at-rest key from this passphrase instead
${BACKUP_PASSPHRASE_HELP}  -h, --help               show this help
`;

const OPTIONS = {
  in: { type: 'string' },
  data: { type: 'string' },
  ...AT_REST_KEY_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runRestoreCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS, false, { env, exclusive: AT_REST_EXCLUSIVE });
  if (parsed.values['help'] === true) {
    process.stdout.write(RESTORE_HELP + environmentHelp(OPTIONS));
    return 0;
  }
  return attributeToEnvironment(parsed, () => runRestore(parsed, env));
}

async function runRestore({ values }: Parsed, env: NodeJS.ProcessEnv): Promise<number> {
  const input = resolve(requiredOption(values, 'in', 'FILE'));
  const dataDir = resolve(requiredOption(values, 'data', 'DIR'));
  const key = await parseAtRestKey(values);
  const passphrase = await backupPassphrase(values, env);
  let file: Uint8Array;
  try {
    file = new Uint8Array(await readFile(input));
  } catch (e) {
    throw new CliFailure(`cannot read the backup file ${input} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const { crypto } = await loadCrypto();
  const contents = decodeBackupContents(crypto, await openBackup(crypto, file, passphrase));
  crypto.zero(passphrase);
  await restoreDataDir(crypto, contents, dataDir, key);
  const contacts = contents.records.filter((r) => r.kind === 'contact').length;
  process.stdout.write(`${JSON.stringify({ event: 'restored', userId: contents.userId, data: dataDir, records: contents.records.length, contacts })}\n`);
  return 0;
}
