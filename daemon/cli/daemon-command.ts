/** `ratchetd daemon`: runs one user's daemon and its local API until SIGTERM/SIGINT. */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import type { ApiServer } from '../api/server.ts';
import { loadOrCreateTokenFile } from '../api/token-file.ts';
import { checkSocketPath } from '../api/unix-socket.ts';
import {
  attributeToEnvironment,
  CliFailure,
  environmentHelp,
  parseBrokerUrls,
  parseCommandArgs,
  parseHostPort,
  parseLogLevel,
  parseNonNegativeInt,
  parseRelayName,
  requiredOption,
  stringOption,
  UsageError,
  type Parsed,
} from './args.ts';
import { BROKER_AUTH_HELP, BROKER_AUTH_OPTIONS, parseBrokerAuth } from './broker-auth.ts';
import { prepareDataDir } from './data-dir.ts';
import { capHeapGrowth } from './heap-growth.ts';
import { readPassphrase } from './passphrase-file.ts';
import { createDaemon, type DaemonConfig } from '../engine/index.ts';
import type { ApiCallObserver } from '../api/call-observer.ts';
import type { RunningMetrics } from './metrics-flag.ts';
import { createCliLogger, listenForShutdown, printReadyLine } from './runtime.ts';
import { HTTP_HELP, HTTP_OPTIONS, parseHttpFlags, prepareHttpFeatures, type HttpFeatures } from '../http/daemon-options.ts';
import { FILE_HELP, FILE_OPTIONS, parseFileFlags } from './file-flags.ts';

export const DAEMON_HELP = `Usage: ratchetd daemon --data DIR --broker URL[,URL...] --socket PATH [options]

Runs one user's end-to-end encryption daemon: keeps the identity key, prekeys, sessions, contacts,
inbox and outbox (encrypted at rest) in DIR, talks to other daemons through the broker, and serves
the local gRPC API (ratchetd.v1.Messenger) on a Unix socket (mode 0600).
Prints one JSON line when ready: {"event":"ready","userId":"...","socket":"/.../api.sock"}
(with "tcp" for --tcp and "metrics":"http://HOST:PORT/metrics" for --metrics); logs go to stderr.

Options:
  --data DIR               data directory (created if missing when its parent exists)
  --broker URL[,URL...]    the relay: mqtt://HOST:PORT, mqtts://HOST:PORT (TLS), ws://HOST:PORT
                           or wss://HOST:PORT (MQTT over WebSockets); several URLs = nodes of one
                           relay cluster: the daemon stays on one that answers and fails over
                           to the next when it goes away (all TLS, or all plain)
  --broker-ca F            trust only the CA certificate(s) in F (PEM) for the relay's TLS
                           certificate, instead of the system's roots; a certificate that does
                           not verify is refused ("certificate rejected (CODE)" in the log and
                           in ctl status), never a fallback to plain text
  --relay-name NAME        the relay's name (its --relay-name), signed into every login proof
                           (default ratchetd)
${BROKER_AUTH_HELP}  --socket PATH            API Unix socket (default DIR/api.sock)
  --tcp HOST:PORT          also serve the API over TCP (PORT alone = 127.0.0.1:PORT); every
                           call then needs "authorization: Bearer <token>"
  --token-file F           the TCP bearer token; created with a random token (mode 0600) if
                           missing (default DIR/api.token)
${HTTP_HELP}  --key-file F             at-rest key file (default DIR/store.key, created if missing)
  --passphrase-file F      derive the at-rest key from the passphrase in F instead
  --idempotency-retention-days N
                           keep a Send's idempotency key at least N days (default 7; a key
                           sent with reply_to lives until that message is acked instead)
${FILE_HELP}  --metrics HOST:PORT      serve Prometheus metrics at http://HOST:PORT/metrics (PORT alone =
                           127.0.0.1:PORT; 0 = a free port, shown as "metrics" in the ready
                           line); no authentication: bind to loopback or a private interface
  --log-level LEVEL        fatal, error, warn, info (default), debug, trace or silent
  -h, --help               show this help
`;

const OPTIONS = {
  data: { type: 'string' },
  broker: { type: 'string' },
  'broker-ca': { type: 'string' },
  'relay-name': { type: 'string' },
  socket: { type: 'string' },
  tcp: { type: 'string' },
  'token-file': { type: 'string' },
  'key-file': { type: 'string' },
  'passphrase-file': { type: 'string' },
  'idempotency-retention-days': { type: 'string' },
  metrics: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...BROKER_AUTH_OPTIONS,
  ...HTTP_OPTIONS,
  ...FILE_OPTIONS,
} as const;

/** The --broker-ca file: PEM certificates Node can use as trust anchors. */
async function readCaFile(path: string): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (e) {
    throw new CliFailure(`cannot read the broker CA file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate');
    tls.createSecureContext({ ca: pem });
  } catch {
    throw new CliFailure(`the broker CA file ${path} holds no usable PEM certificate`);
  }
  return pem;
}

export async function runDaemonCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS, false, { env, exclusive: [['key-file', 'passphrase-file']] });
  if (parsed.values['help'] === true) {
    process.stdout.write(DAEMON_HELP + environmentHelp(OPTIONS));
    return 0;
  }
  return attributeToEnvironment(parsed, () => runDaemon(parsed));
}

async function runDaemon({ values }: Parsed): Promise<number> {
  capHeapGrowth();
  const data = requiredOption(values, 'data', 'DIR');
  const brokerUrls = parseBrokerUrls(requiredOption(values, 'broker', 'URL'));
  const secure = brokerUrls.map((u) => u.startsWith('mqtts:') || u.startsWith('wss:'));
  if (secure.some((s) => s !== secure[0])) throw new UsageError('--broker: all URLs TLS (mqtts://, wss://) or all plain (mqtt://, ws://): no failover from TLS to plain text');
  const caFile = stringOption(values, 'broker-ca');
  if (caFile !== undefined && secure[0] !== true) throw new UsageError('--broker-ca needs mqtts:// or wss:// --broker URLs');
  const relayName = parseRelayName(stringOption(values, 'relay-name'));
  const tcpText = stringOption(values, 'tcp');
  const tcp = tcpText === undefined ? undefined : parseHostPort(tcpText, '--tcp');
  const tokenFileFlag = stringOption(values, 'token-file');
  if (tokenFileFlag !== undefined && tcp === undefined) throw new UsageError('--token-file only makes sense with --tcp');
  const keyFile = stringOption(values, 'key-file');
  const passphraseFile = stringOption(values, 'passphrase-file');
  if (keyFile !== undefined && passphraseFile !== undefined) throw new UsageError('give --key-file or --passphrase-file, not both');
  const retentionText = stringOption(values, 'idempotency-retention-days');
  const retentionDays = retentionText === undefined ? undefined : parseNonNegativeInt(retentionText, '--idempotency-retention-days');
  if (retentionDays === 0) throw new UsageError('--idempotency-retention-days must be at least 1');
  const metricsText = stringOption(values, 'metrics');
  const metricsAddress = metricsText === undefined ? undefined : parseHostPort(metricsText, '--metrics');
  const httpFlags = parseHttpFlags(values);
  const files = parseFileFlags(values);
  const relayAuth = await parseBrokerAuth(values);
  const logger = createCliLogger(parseLogLevel(stringOption(values, 'log-level')), 'daemon');
  const shutdown = listenForShutdown(logger);

  const dataDir = await prepareDataDir(data);
  const socketPath = await checkSocketPath(stringOption(values, 'socket') ?? join(dataDir, 'api.sock'));
  // A failed store write leaves the engine closed: exit non-zero so a supervisor restarts it.
  const config: DaemonConfig = {
    dataDir,
    brokerUrl: brokerUrls.join(','),
    logger,
    relayAuth,
    onFatal: () => shutdown.fail('the daemon could not write its store'),
  };
  if (caFile !== undefined) config.brokerCa = await readCaFile(caFile);
  if (relayName !== undefined) config.relayAudience = relayName;
  if (keyFile !== undefined) config.keyFile = resolve(keyFile);
  if (passphraseFile !== undefined) config.passphrase = await readPassphrase(passphraseFile);
  if (retentionDays !== undefined) config.timing = { idempotencyRetentionMs: retentionDays * 24 * 3600_000 };
  if (Object.keys(files).length > 0) config.files = files;
  let token: string | undefined;
  if (tcp !== undefined) {
    const tokenFile = resolve(tokenFileFlag ?? join(dataDir, 'api.token'));
    const loaded = await loadOrCreateTokenFile(tokenFile).catch((e: unknown) => {
      throw new CliFailure(`cannot use the token file ${tokenFile}: ${(e as Error).message}`);
    });
    if (loaded.created) logger.info({ tokenFile }, 'created a new API token file');
    token = loaded.token;
  }

  // The engine's start waits on disk and network; the gRPC modules load meanwhile (cold start).
  // Until the engine runs, API calls answer UNAVAILABLE; the ready line comes after both.
  const daemon = createDaemon(config);
  const http: HttpFeatures = await prepareHttpFeatures(httpFlags, daemon.backend, dataDir, logger);
  let api: ApiServer | undefined;
  let metrics: RunningMetrics<ApiCallObserver> | undefined;
  const startingMetrics =
    metricsAddress === undefined
      ? Promise.resolve(undefined)
      : import('./metrics-flag.ts')
          .then(({ startDaemonMetrics }) => startDaemonMetrics(metricsAddress, logger, () => daemon.metrics()))
          .then((m) => (metrics = m));
  const [engineStarted, apiStarted, httpStarted] = await Promise.allSettled([
    daemon.start(),
    Promise.all([startingMetrics, import('../api/server.ts')]).then(([m, { createApiServer }]) => {
      api = createApiServer({
        backend: http.api,
        socketPath,
        logger,
        health: daemon.health,
        ...(m === undefined ? {} : { onCall: m.registered }),
        ...(tcp === undefined || token === undefined ? {} : { tcp: { ...tcp, token } }),
      });
      return api.start();
    }),
    http.listen(),
  ]);
  if (engineStarted.status === 'rejected' || apiStarted.status === 'rejected' || httpStarted.status === 'rejected') {
    await http.close().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await metrics?.close().catch(() => undefined);
    await daemon.close().catch(() => undefined);
    throw [engineStarted, apiStarted, httpStarted].map((r) => (r.status === 'rejected' ? (r.reason as unknown) : undefined)).find((r) => r !== undefined);
  }
  const { userId } = engineStarted.value;
  const listening = apiStarted.value;
  const running = api as ApiServer | undefined;
  const serving = metrics as RunningMetrics<ApiCallObserver> | undefined;
  const httpListening = httpStarted.value;
  await http.startWebhook().catch(async (e: unknown) => {
    await http.close().catch(() => undefined);
    await running?.close().catch(() => undefined);
    await serving?.close().catch(() => undefined);
    await daemon.close().catch(() => undefined);
    throw e;
  });
  printReadyLine({
    userId,
    socket: listening.socket,
    ...(listening.tcp === undefined ? {} : { tcp: listening.tcp.address }),
    ...(serving === undefined ? {} : { metrics: serving.url }),
    ...httpListening,
  });
  logger.info({ userId, socket: listening.socket, tcp: listening.tcp?.address, metrics: serving?.url, http: httpListening.http }, 'daemon ready');
  return shutdown.stopWith(async () => {
    await http.close();
    await running?.close();
    await serving?.close();
    await daemon.close();
  });
}
