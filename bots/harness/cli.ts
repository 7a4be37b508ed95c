/**
 * `npm run harness -- --daemons 2`: starts a broker and N daemons in a temp dir, prints the network
 * as one JSON line on stdout, e.g.
 *   {"event":"ready","mqtt":"mqtt://127.0.0.1:40123","dir":"/tmp/ratchetd-net-…",
 *    "daemons":[{"userId":"…","socket":"/tmp/ratchetd-net-…/d0/api.sock","dataDir":"…","pid":123},…]}
 * and runs until SIGINT/SIGTERM, then tears everything down (temp dir included) and exits 0. If a
 * process of the network dies on its own, it says so on stderr, tears down and exits 1.
 */
import { parseArgs } from 'node:util';
import { startNetwork, type NetworkOptions } from './network.ts';

const USAGE = `Usage: npm run harness -- [--daemons N] [--log-level LEVEL] [--verbose]

Starts a throwaway ratchetd network (one broker, N daemons, all in a temp dir), prints it as one
JSON line, and keeps it up until interrupted.

  --daemons N          number of daemons, 0 to 64 (default 2)
  --log-level LEVEL    the processes' log level (default warn)
  --verbose            copy the processes' logs to stderr
  -h, --help           show this help
`;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { daemons: { type: 'string' }, 'log-level': { type: 'string' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`harness: ${(e as Error).message} (see --help)\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const daemons = Number(values.daemons ?? '2');
  const level = values['log-level'] ?? 'warn';
  if (!Number.isInteger(daemons) || daemons < 0 || daemons > 64) {
    process.stderr.write('harness: --daemons must be an integer from 0 to 64 (see --help)\n');
    return 2;
  }
  if (!(LEVELS as readonly string[]).includes(level)) {
    process.stderr.write(`harness: --log-level must be one of ${LEVELS.join(', ')} (see --help)\n`);
    return 2;
  }

  // Signal handlers first: a signal while starting must still tear down what was started.
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((done) => (onSignal = done));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const options: NetworkOptions = { daemons, bots: false, logLevel: level as NetworkOptions['logLevel'], ...(values.verbose === true ? { stderr: process.stderr } : {}) };
  const starting = startNetwork(options);
  const first = await Promise.race([starting.then((network) => ({ network }), (error: unknown) => ({ error })), signalled.then((signal) => ({ signal }))]);
  if ('error' in first) {
    process.stderr.write(`harness: could not start the network: ${(first.error as Error).message}\n`);
    return 1;
  }
  if ('signal' in first) {
    await starting.then((n) => n.stop(), () => undefined);
    return 0;
  }
  const { network } = first;
  process.stdout.write(`${JSON.stringify({ event: 'ready', ...network.toJSON() })}\n`);
  const end = await Promise.race([signalled.then(() => undefined), network.unexpectedExit]);
  if (end !== undefined) process.stderr.write(`harness: ${end.name} exited unexpectedly (${end.signal ?? `code ${end.code}`}); tearing down\n`);
  await network.stop();
  return end === undefined ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (e: unknown) => {
    process.stderr.write(`harness: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
