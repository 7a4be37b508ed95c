/** `ratchetd broker`: runs the blind MQTT relay until SIGTERM/SIGINT. */
import { createBroker } from '../../broker/index.ts';
import { parseCommandArgs, parseLogLevel, parseNonNegativeInt, parsePort, stringOption, UsageError, CliFailure } from './args.ts';
import { prepareDataDir } from './data-dir.ts';
import { createCliLogger, listenForShutdown, printReadyLine } from './runtime.ts';

export const BROKER_HELP = `Usage: ratchetd broker --port N --data DIR [options]

Runs the blind MQTT relay (Aedes): authenticates daemons by their identity key, enforces the topic
ACL, keeps retained prekey bundles and per-recipient queues. It only ever sees ciphertext.
Prints one JSON line when ready: {"event":"ready","mqtt":"mqtt://HOST:PORT"}; logs go to stderr.

Options:
  --port N                 TCP port to listen on; 0 picks a free one (default 1883)
  --data DIR               data directory (LevelDB queues and bundles in DIR/broker);
                           created if missing when its parent exists
  --redis URL              run as one node of a cluster: queues, bundles and subscriptions
                           in this shared Redis (redis://HOST:PORT[/DB]) instead of DIR;
                           every node gets the same URL (Redis needs appendonly yes)
  --host H                 interface to listen on (default 127.0.0.1)
  --persistence KIND       level (default: survives restarts), memory (nothing kept) or
                           redis (the default with --redis)
  --max-payload BYTES      largest message accepted (default 307200)
  --max-queued N           most messages queued per recipient; 0 = no quota (default 0)
  --message-ttl SECONDS    drop queued messages older than this; 0 = never (default 0);
                           senders resend what was never receipted
  --log-level LEVEL        fatal, error, warn, info (default), debug, trace or silent
  -h, --help               show this help
`;

const OPTIONS = {
  port: { type: 'string' },
  data: { type: 'string' },
  host: { type: 'string' },
  persistence: { type: 'string' },
  redis: { type: 'string' },
  'max-payload': { type: 'string' },
  'max-queued': { type: 'string' },
  'message-ttl': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runBrokerCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, OPTIONS);
  if (values['help'] === true) {
    process.stdout.write(BROKER_HELP);
    return 0;
  }
  const port = parsePort(stringOption(values, 'port') ?? '1883', '--port');
  const redisUrl = stringOption(values, 'redis');
  const persistence = stringOption(values, 'persistence') ?? (redisUrl === undefined ? 'level' : 'redis');
  if (persistence !== 'level' && persistence !== 'memory' && persistence !== 'redis') throw new UsageError('--persistence must be level, memory or redis');
  if ((persistence === 'redis') !== (redisUrl !== undefined)) throw new UsageError('--redis URL and --persistence redis go together');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^/\s]+/.test(redisUrl)) throw new UsageError('--redis must be a URL like redis://127.0.0.1:6379');
  const data = stringOption(values, 'data');
  if (data === undefined && persistence === 'level') throw new UsageError('--data DIR is required (or --redis URL, or --persistence memory)');
  const maxPayload = stringOption(values, 'max-payload');
  const maxQueued = stringOption(values, 'max-queued');
  const ttl = stringOption(values, 'message-ttl');
  const logger = createCliLogger(parseLogLevel(stringOption(values, 'log-level')), 'broker');
  const shutdown = listenForShutdown(logger);
  const dataDir = data === undefined ? undefined : await prepareDataDir(data);

  const broker = createBroker({
    host: stringOption(values, 'host') ?? '127.0.0.1',
    port,
    persistence,
    logger,
    ...(dataDir === undefined ? {} : { dataDir }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(maxPayload === undefined ? {} : { maxPayloadBytes: parseNonNegativeInt(maxPayload, '--max-payload') }),
    ...(maxQueued === undefined ? {} : { maxQueuedPerClient: parseNonNegativeInt(maxQueued, '--max-queued') }),
    ...(ttl === undefined ? {} : { messageTtlMs: parseNonNegativeInt(ttl, '--message-ttl') * 1000 }),
  });
  let address;
  try {
    address = await broker.start();
  } catch (e) {
    await broker.close().catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliFailure(`port ${port} is already in use (try --port 0 for a free one)`, { cause: e });
    if (code === 'EACCES') throw new CliFailure(`not allowed to listen on port ${port}`, { cause: e });
    throw e;
  }
  printReadyLine({ mqtt: address.url });
  logger.info({ url: address.url, persistence, dataDir }, 'broker ready');
  return shutdown.stopWith(() => broker.close());
}
