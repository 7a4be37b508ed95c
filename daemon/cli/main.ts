/**
 * ratchetd command line entry point: the only place that reads argv, prints errors and exits.
 * Usage mistakes exit 2, run-time failures exit 1, each with one line on stderr.
 */
import { isCodedError } from '../../core/errors.ts';
import { CliFailure, UsageError } from './args.ts';

export const MAIN_HELP = `ratchetd — headless end-to-end encrypted messaging daemon

Usage:
  ratchetd broker --port N --data DIR [--host H] [--persistence level|memory]
      run the blind MQTT relay
  ratchetd daemon --data DIR --broker mqtt://HOST:PORT --socket PATH [--tcp HOST:PORT --token-file F]
                  [--key-file F | --passphrase-file F]
      run one user's daemon and its local gRPC API
  ratchetd ctl --socket PATH <whoami|send USER TEXT|receive [--follow]|contacts|verify USER NUMBER|status|health>
      talk to a running daemon
  ratchetd backup --data DIR --out FILE [--backup-passphrase-file F]
      write an encrypted backup of a stopped daemon's data dir (no session keys in it)
  ratchetd restore --in FILE --data DIR [--backup-passphrase-file F]
      make a new data dir from a backup; its daemon re-establishes every session by itself

Run "ratchetd <command> --help" for the options of each command. Every option can also be set in
the environment as RATCHETD_<OPTION> (--broker-ca F ↔ RATCHETD_BROKER_CA=F); a flag wins.
`;

type Command = (argv: readonly string[]) => Promise<number>;

async function loadCommand(name: string): Promise<Command | undefined> {
  switch (name) {
    case 'broker':
      return (await import('./broker-command.ts')).runBrokerCommand;
    case 'daemon':
      return (await import('./daemon-command.ts')).runDaemonCommand;
    case 'ctl':
      return (await import('./ctl-command.ts')).runCtlCommand;
    case 'backup':
      return (await import('./backup-command.ts')).runBackupCommand;
    case 'restore':
      return (await import('./restore-command.ts')).runRestoreCommand;
    default:
      return undefined;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(MAIN_HELP);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_HELP);
    return 0;
  }
  const command = await loadCommand(name);
  if (command === undefined) {
    process.stderr.write(`ratchetd: unknown command "${name}" (one of broker, daemon, ctl, backup, restore; see ratchetd --help)\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ratchetd ${name}: ${oneLine(e.message)} (see ratchetd ${name} --help)\n`);
      return 2;
    }
    if (e instanceof CliFailure || isCodedError(e)) {
      process.stderr.write(`ratchetd ${name}: ${oneLine(e.message)}\n`);
      return 1;
    }
    process.stderr.write(`ratchetd ${name}: unexpected error: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Exit explicitly: a closed broker, daemon or gRPC client may leave handles that would keep the
// process alive; everything that matters has been closed or flushed by now.
process.stdout.write('', () => process.exit(code));
