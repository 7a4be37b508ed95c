/** `ratchetd ctl`: one API call against a running daemon, results as JSON lines on stdout. */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ApiCallError, connectMessenger, type ConnectOptions, type MessengerClient } from '../api/client.ts';
import { CliFailure, parseCommandArgs, parseHostPort, parseNonNegativeInt, stringOption, UsageError } from './args.ts';
import { contactJson, eventJson, identityJson, printJson, statusJson } from './ctl-output.ts';

export const CTL_HELP = `Usage: ratchetd ctl (--socket PATH | --tcp HOST:PORT --token T|--token-file F) COMMAND

Talks to a running daemon through its local API and prints JSON lines on stdout.

Commands:
  whoami                   this daemon's user id, identity key and fingerprint
  send USER TEXT           send TEXT to USER (without TEXT: the body is read from stdin)
  receive [--follow]       print unacked messages, one JSON line each, acking each after
                           printing; --follow keeps streaming live messages and events
  contacts                 contacts with trust state and safety number
  verify USER NUMBER       mark USER verified after comparing the safety number out of band
                           (also approves a changed identity)
  status                   broker connection, prekey stock, outbox and inbox depth

Options:
  --socket PATH            the daemon's API socket (default: $RATCHETD_SOCKET)
  --tcp HOST:PORT          connect over TCP instead (PORT alone = 127.0.0.1:PORT)
  --token T                bearer token for --tcp
  --token-file F           read the bearer token from F
  --content-type TYPE      send: MIME type of the body (default text/plain; charset=utf-8)
  --idempotency-key KEY    send: the same key never sends twice
  --follow                 receive: keep streaming until interrupted
  --cursor N               receive: only messages after this cursor
  --peek                   receive: print without acking (they are offered again)
  -h, --help               show this help
`;

const OPTIONS = {
  socket: { type: 'string' },
  tcp: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'content-type': { type: 'string' },
  'idempotency-key': { type: 'string' },
  follow: { type: 'boolean' },
  cursor: { type: 'string' },
  peek: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMANDS = ['whoami', 'send', 'receive', 'contacts', 'verify', 'status'] as const;

async function connectOptions(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<ConnectOptions> {
  const tcp = stringOption(values, 'tcp');
  const fromEnv = env['RATCHETD_SOCKET'] === '' ? undefined : env['RATCHETD_SOCKET'];
  const socket = stringOption(values, 'socket') ?? (tcp === undefined ? fromEnv : undefined);
  if (tcp !== undefined && socket !== undefined) throw new UsageError('give --socket or --tcp, not both');
  if (tcp !== undefined) {
    const { host, port } = parseHostPort(tcp, '--tcp');
    const tokenFlag = stringOption(values, 'token');
    const tokenFile = stringOption(values, 'token-file');
    if (tokenFlag !== undefined && tokenFile !== undefined) throw new UsageError('give --token or --token-file, not both');
    let token = tokenFlag ?? env['RATCHETD_TOKEN'];
    if (tokenFile !== undefined) {
      token = (await readFile(tokenFile, 'utf8').catch(() => {
        throw new CliFailure(`cannot read the token file ${tokenFile}`);
      })).trim();
    }
    if (token === undefined || token === '') throw new UsageError('--tcp needs --token or --token-file');
    return { tcp: `${host.includes(':') ? `[${host}]` : host}:${port}`, token };
  }
  if (socket === undefined) throw new UsageError('give --socket PATH (or --tcp HOST:PORT with a token)');
  const path = resolve(socket);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new CliFailure(`no daemon socket at ${path} (is the daemon running?)`);
  if (!info.isSocket()) throw new CliFailure(`${path} is not a socket`);
  return { socketPath: path };
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function receive(client: MessengerClient, follow: boolean, peek: boolean, cursor: number): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const event of client.receive({ cursor, signal: controller.signal })) {
      if (event.kind === 'caughtUp') {
        if (!follow) break;
        continue;
      }
      const json = eventJson(event);
      if (json !== undefined) printJson(json);
      if (event.kind === 'message' && !peek) await client.ack([event.message.messageId]);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const USAGE: Record<(typeof COMMANDS)[number], { min: number; max: number; usage: string }> = {
  whoami: { min: 0, max: 0, usage: 'whoami' },
  send: { min: 1, max: Infinity, usage: 'send USER TEXT' },
  receive: { min: 0, max: 0, usage: 'receive [--follow] [--peek] [--cursor N]' },
  contacts: { min: 0, max: 0, usage: 'contacts' },
  verify: { min: 2, max: Infinity, usage: 'verify USER NUMBER' },
  status: { min: 0, max: 0, usage: 'status' },
};

function checkArguments(command: (typeof COMMANDS)[number], args: string[], values: Record<string, string | boolean | undefined>): void {
  const { min, max, usage } = USAGE[command];
  if (args.length < min || args.length > max) throw new UsageError(`usage: ratchetd ctl ${usage}`);
  if (command !== 'receive' && (values['follow'] !== undefined || values['peek'] !== undefined || values['cursor'] !== undefined)) {
    throw new UsageError('--follow, --peek and --cursor only apply to receive');
  }
  if (command !== 'send' && (values['content-type'] !== undefined || values['idempotency-key'] !== undefined)) {
    throw new UsageError('--content-type and --idempotency-key only apply to send');
  }
  const cursor = stringOption(values, 'cursor');
  if (cursor !== undefined) parseNonNegativeInt(cursor, '--cursor');
}

async function run(client: MessengerClient, command: string, args: string[], values: Record<string, string | boolean | undefined>): Promise<void> {
  switch (command) {
    case 'whoami':
      return printJson(identityJson(await client.getIdentity()));
    case 'send': {
      const [to = '', ...words] = args;
      const body = words.length > 0 ? words.join(' ') : await readStdin();
      const contentType = stringOption(values, 'content-type');
      const idempotencyKey = stringOption(values, 'idempotency-key');
      const result = await client.send({
        to,
        body,
        ...(contentType === undefined ? {} : { contentType }),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      });
      return printJson(result);
    }
    case 'receive': {
      const cursorText = stringOption(values, 'cursor');
      const cursor = cursorText === undefined ? 0 : parseNonNegativeInt(cursorText, '--cursor');
      return receive(client, values['follow'] === true, values['peek'] === true, cursor);
    }
    case 'contacts':
      return printJson({ contacts: (await client.listContacts()).map(contactJson) });
    case 'verify': {
      const [userId = '', ...number] = args;
      return printJson(contactJson(await client.verifyContact(userId, number.join(' '))));
    }
    case 'status':
      return printJson(statusJson(await client.getStatus()));
    default:
      throw new UsageError(`unknown ctl command "${command}" (one of ${COMMANDS.join(', ')})`);
  }
}

export async function runCtlCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
  if (values['help'] === true) {
    process.stdout.write(CTL_HELP);
    return 0;
  }
  const [command, ...args] = positionals;
  if (command === undefined) throw new UsageError(`missing command (one of ${COMMANDS.join(', ')})`);
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown ctl command "${command}" (one of ${COMMANDS.join(', ')})`);
  checkArguments(command as (typeof COMMANDS)[number], args, values);
  const client = connectMessenger(await connectOptions(values, env));
  try {
    await run(client, command, args, values);
    return 0;
  } catch (e) {
    if (e instanceof ApiCallError) throw new CliFailure(e.message, { cause: e });
    throw e;
  } finally {
    client.close();
  }
}
