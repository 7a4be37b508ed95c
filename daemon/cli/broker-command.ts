/** `ratchetd broker`: runs the blind MQTT relay until SIGTERM/SIGINT. */
import { resolve } from 'node:path';
import { createBroker } from '../../broker/index.ts';
import { BrokerError } from '../../broker/errors.ts';
import { attributeToEnvironment, environmentHelp, parseCommandArgs, parseHostPort, parseLogLevel, parseNonNegativeInt, parsePort, parseRelayName, stringOption, UsageError, CliFailure, type Parsed } from './args.ts';
import { prepareDataDir } from './data-dir.ts';
import type { RunningMetrics } from './metrics-flag.ts';
import { createCliLogger, listenForShutdown, printReadyLine } from './runtime.ts';
import { BROKER_HEAP_GROWING_PERCENT, capHeapGrowth } from './heap-growth.ts';

export const BROKER_HELP = `Usage: ratchetd broker --port N --data DIR [options]

Runs the blind MQTT relay (Aedes): authenticates daemons by their identity key, enforces the topic
ACL, keeps retained prekey bundles and per-recipient queues. It only ever sees ciphertext.
Prints one JSON line once every listener accepts connections:
  {"event":"ready","mqtt":"mqtt://HOST:PORT","relayName":"ratchetd"}
(with "ws":"ws://HOST:PORT" for --ws-port, mqtts:// and wss:// with TLS, and
"metrics":"http://HOST:PORT/metrics" for --metrics); logs go to stderr.
SIGHUP reads the TLS certificate and key files again (new connections get the new pair).

Options:
  --port N                 TCP port to listen on; 0 picks a free one (default 1883)
  --relay-name NAME        this relay's name, signed into every login proof: a proof made for
                           another relay is refused (default ratchetd; give each relay, or
                           cluster, its own and pass the same --relay-name to its daemons)
  --tls-cert F             TLS certificate chain (PEM): --port then serves only mqtts:// and
                           --ws-port only wss://; logins are bound to their TLS connection
  --tls-key F              the certificate's private key (PEM)
  --ws-port N              also serve MQTT over WebSockets (any path) on port N; 0 = a free one
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
  --metrics HOST:PORT      serve Prometheus metrics at http://HOST:PORT/metrics (PORT alone =
                           127.0.0.1:PORT; 0 = a free port, shown as "metrics" in the ready
                           line); no authentication: bind to loopback or a private interface
  --log-level LEVEL        fatal, error, warn, info (default), debug, trace or silent
  -h, --help               show this help
`;

const OPTIONS = {
  port: { type: 'string' },
  'relay-name': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'ws-port': { type: 'string' },
  data: { type: 'string' },
  host: { type: 'string' },
  persistence: { type: 'string' },
  redis: { type: 'string' },
  'max-payload': { type: 'string' },
  'max-queued': { type: 'string' },
  'message-ttl': { type: 'string' },
  metrics: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runBrokerCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS, false, { env });
  if (parsed.values['help'] === true) {
    process.stdout.write(BROKER_HELP + environmentHelp(OPTIONS));
    return 0;
  }
  return attributeToEnvironment(parsed, () => runBroker(parsed));
}

async function runBroker({ values }: Parsed): Promise<number> {
  capHeapGrowth(undefined, BROKER_HEAP_GROWING_PERCENT);
  const port = parsePort(stringOption(values, 'port') ?? '1883', '--port');
  const wsPortText = stringOption(values, 'ws-port');
  const wsPort = wsPortText === undefined ? undefined : parsePort(wsPortText, '--ws-port');
  const relayName = parseRelayName(stringOption(values, 'relay-name'));
  const certFile = stringOption(values, 'tls-cert');
  const keyFile = stringOption(values, 'tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert F and --tls-key F go together');
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
  const metricsText = stringOption(values, 'metrics');
  const metricsAddress = metricsText === undefined ? undefined : parseHostPort(metricsText, '--metrics');
  const logger = createCliLogger(parseLogLevel(stringOption(values, 'log-level')), 'broker');
  const shutdown = listenForShutdown(logger);
  const dataDir = data === undefined ? undefined : await prepareDataDir(data);

  const broker = createBroker({
    host: stringOption(values, 'host') ?? '127.0.0.1',
    port,
    persistence,
    logger,
    ...(relayName === undefined ? {} : { relayName }),
    ...(wsPort === undefined ? {} : { wsPort }),
    ...(certFile === undefined || keyFile === undefined ? {} : { tls: { certFile: resolve(certFile), keyFile: resolve(keyFile) } }),
    ...(dataDir === undefined ? {} : { dataDir }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(maxPayload === undefined ? {} : { maxPayloadBytes: parseNonNegativeInt(maxPayload, '--max-payload') }),
    ...(maxQueued === undefined ? {} : { maxQueuedPerClient: parseNonNegativeInt(maxQueued, '--max-queued') }),
    ...(ttl === undefined ? {} : { messageTtlMs: parseNonNegativeInt(ttl, '--message-ttl') * 1000 }),
  });
  // The metrics listener first: a port in use fails before the broker opens its data.
  let metrics: RunningMetrics<void> | undefined;
  if (metricsAddress !== undefined) {
    const { startBrokerMetrics } = await import('./metrics-flag.ts');
    metrics = await startBrokerMetrics(metricsAddress, logger, broker.stats);
  }
  let address;
  try {
    address = await broker.start();
  } catch (e) {
    await broker.close().catch(() => undefined);
    await metrics?.close().catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    const which = wsPort === undefined ? `port ${port}` : `port ${port} or ${wsPort}`;
    if (code === 'EADDRINUSE') throw new CliFailure(`${which} is already in use (try --port 0 for a free one)`, { cause: e });
    if (code === 'EACCES') throw new CliFailure(`not allowed to listen on ${which}`, { cause: e });
    if (e instanceof BrokerError && e.code === 'ConfigError') throw new CliFailure(e.message, { cause: e });
    throw e;
  }

  // SIGHUP: new certificate files (renewal) for new connections; a bad pair keeps the old one.
  process.on('SIGHUP', () => {
    broker.reloadCertificates().then(
      () => logger.info(certFile === undefined ? 'SIGHUP: no TLS certificate to reload' : 'SIGHUP: TLS certificate reloaded'),
      (err: unknown) => logger.error({ err: (err as Error).message }, 'SIGHUP: TLS certificate not reloaded; still serving the previous one'),
    );
  });
  printReadyLine({
    mqtt: address.url,
    ...(address.ws === null ? {} : { ws: address.ws.url }),
    relayName: address.relayName,
    ...(metrics === undefined ? {} : { metrics: metrics.url }),
  });
  logger.info({ url: address.url, ws: address.ws?.url, relayName: address.relayName, persistence, dataDir, metrics: metrics?.url }, 'broker ready');
  const serving = metrics;
  return shutdown.stopWith(async () => {
    await broker.close();
    await serving?.close();
  });
}
