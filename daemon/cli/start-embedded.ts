/**
 * `npm start`: the embedded default. Runs a broker and one daemon in this process with their data
 * under ./.ratchetd/ (broker queues in .ratchetd/broker, the daemon in .ratchetd/daemon), prints
 * one JSON ready line and then what to try next, and runs until Ctrl-C.
 * Options: --port N (broker port, default 1883, a free one if taken), --data DIR, --log-level L.
 * When 1883 is taken, the free port used instead is remembered in DIR/broker.port and tried first
 * next time, so a second daemon started by hand keeps finding the broker after a restart.
 */
import { join, relative, resolve } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createBroker } from '../../broker/index.ts';
import { createApiServer } from '../api/server.ts';
import { isCodedError } from '../../core/errors.ts';
import { attributeToEnvironment, CliFailure, environmentHelp, parseCommandArgs, parseLogLevel, parsePort, stringOption, UsageError, type Parsed } from './args.ts';
import { createDaemon } from '../engine/index.ts';
import { createCliLogger, listenForShutdown, printReadyLine } from './runtime.ts';

const HELP = `Usage: npm start [-- --port N --data DIR --log-level LEVEL]

Runs a broker and your daemon together, data under ./.ratchetd/ (or DIR), until Ctrl-C.
  --port N           broker port (default 1883, or the port used last time; a free
                     port if that is taken)
  --data DIR         where to keep data (default ./.ratchetd)
  --log-level LEVEL  stderr log level (default warn)
`;

const OPTIONS = {
  port: { type: 'string' },
  data: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

function nextSteps(brokerUrl: string, userId: string, root: string, socket: string): string {
  const ctl = `npx ratchetd ctl --socket ${shown(socket)}`;
  const bobDir = shown(join(root, 'bob'));
  const bobCtl = `npx ratchetd ctl --socket ${bobDir}/api.sock`;
  return `
ratchetd is running: a broker and your daemon (data in ${shown(root)}/). Ctrl-C stops both.
  broker    ${brokerUrl}
  you       ${userId}
  API       ${shown(socket)}  (gRPC ratchetd.v1.Messenger, schema in proto/ratchetd/v1/messenger.proto)

Try, in another terminal (same directory):
  ${ctl} whoami
  ${ctl} status

Start a second daemon (another user) by hand, in a third terminal:
  npx ratchetd daemon --data ${bobDir} --broker ${brokerUrl} --socket ${bobDir}/api.sock
Its ready line shows its userId (or: ${bobCtl} whoami). Then, both ways:
  ${ctl} send BOB_USER_ID "hello bob"
  ${bobCtl} receive
  ${bobCtl} send ${userId} "hi back"
  ${ctl} receive --follow
Compare safety numbers with: ${ctl} contacts   (then: ${ctl} verify BOB_USER_ID NUMBER)
`;
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS);
  if (parsed.values['help'] === true) {
    process.stdout.write(HELP + environmentHelp(OPTIONS));
    return 0;
  }
  return attributeToEnvironment(parsed, () => runEmbedded(parsed));
}

async function runEmbedded({ values }: Parsed): Promise<number> {
  const portFlag = stringOption(values, 'port');
  const root = resolve(stringOption(values, 'data') ?? '.ratchetd');
  const portFile = join(root, 'broker.port');
  const savedPort = await readFile(portFile, 'utf8').then((t) => Number(t.trim()), () => NaN);
  const port = portFlag !== undefined ? parsePort(portFlag, '--port') : Number.isInteger(savedPort) && savedPort > 0 && savedPort < 65536 ? savedPort : 1883;
  const logger = createCliLogger(parseLogLevel(stringOption(values, 'log-level') ?? 'warn'), 'ratchetd');
  const shutdown = listenForShutdown(logger);
  await mkdir(join(root, 'daemon'), { recursive: true, mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    throw new CliFailure(`cannot create ${root} (${e.code ?? 'error'})`);
  });

  const startBroker = async (p: number): Promise<{ close: () => Promise<void>; url: string }> => {
    const broker = createBroker({ host: '127.0.0.1', port: p, dataDir: root, persistence: 'level', logger: logger.child({ part: 'broker' }) });
    try {
      return { close: () => broker.close(), url: (await broker.start()).url };
    } catch (e) {
      await broker.close().catch(() => undefined);
      throw e;
    }
  };
  let broker;
  try {
    broker = await startBroker(port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || portFlag !== undefined) throw e;
    logger.warn({ port }, 'port taken; using a free port');
    broker = await startBroker(0);
    await writeFile(portFile, `${new URL(broker.url).port}\n`);
  }
  const closers: (() => Promise<void>)[] = [broker.close];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const daemon = createDaemon({
      dataDir: join(root, 'daemon'),
      brokerUrl: broker.url,
      logger: logger.child({ part: 'daemon' }),
      onFatal: () => shutdown.fail('the daemon could not write its store'),
    });
    closers.push(() => daemon.close());
    const { userId } = await daemon.start();
    const api = createApiServer({ backend: daemon.backend, socketPath: join(root, 'daemon', 'api.sock'), logger: logger.child({ part: 'api' }) });
    closers.push(() => api.close());
    const listening = await api.start();
    const socket = listening.socket ?? join(root, 'daemon', 'api.sock');
    printReadyLine({ mqtt: broker.url, userId, socket });
    process.stdout.write(nextSteps(broker.url, userId, root, socket));
  } catch (e) {
    await closeAll().catch(() => undefined);
    throw e;
  }
  return shutdown.stopWith(closeAll);
}

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (e) {
  const message = e instanceof Error ? e.message.replace(/\s*\n\s*/g, ' ') : String(e);
  const known = e instanceof UsageError || e instanceof CliFailure || isCodedError(e);
  process.stderr.write(`ratchetd: ${known ? '' : 'unexpected error: '}${message}\n`);
  code = e instanceof UsageError ? 2 : 1;
}
process.stdout.write('', () => process.exit(code));
