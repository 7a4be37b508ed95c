/** `ratchetd ctl`: one API call against a running daemon, results as JSON lines on stdout. */
import { join } from 'node:path';
import { ApiCallError, connectMessenger, type MessengerClient } from '../api/client.ts';
import { attributeToEnvironment, CliFailure, environmentHelp, parseCommandArgs, parseNonNegativeInt, stringOption, UsageError, withoutEnvironment } from './args.ts';
import { connectOptions } from './ctl-connect.ts';
import { ctlHealth } from './ctl-health.ts';
import { checkSaveDir, ctlDownload, ctlSendFile, downloadTo, savedAttachmentName } from './ctl-files.ts';
import { contactJson, eventJson, identityJson, printJson, statusJson } from './ctl-output.ts';
import { checkGroupArguments, GROUP_USAGE, listGroups, runGroupCommand } from './ctl-groups.ts';

export const CTL_HELP = `Usage: ratchetd ctl (--socket PATH | --tcp HOST:PORT --token T|--token-file F) COMMAND

Talks to a running daemon through its local API and prints JSON lines on stdout.

Commands:
  whoami                   this daemon's user id, identity key and fingerprint
  send USER TEXT           send TEXT to USER (without TEXT: the body is read from stdin)
  send --group GROUP TEXT  send TEXT to every member of GROUP (encrypted once)
  receive [--follow]       print unacked messages, one JSON line each, acking each after
                           printing (the ack deletes its attachment on the daemon);
                           --follow keeps streaming live messages and events
  contacts                 contacts with trust state and safety number
  verify USER NUMBER       mark USER verified after comparing the safety number out of band
                           (also approves a changed identity)
  status                   broker connection, prekey stock, outbox and inbox depth, dead letters
  health                   exit 0 if the daemon serves and is connected to its relay, 1 if
                           not (or unreachable); prints one JSON line either way (for
                           supervisors and container health checks)
  dead-letters             messages the webhook gave up on (after retrying for an hour), oldest
                           first: one JSON line {deadLetters, total}
  redrive [ID...]          deliver those dead letters to the webhook again (all without IDs)
  send-file USER PATH      send the file at PATH to USER (any size; encrypted, resumable);
                           prints {"messageId"}, then a progress line on stderr until the
                           recipient has stored and verified it (--detach: return at once)
  send-file --group GROUP PATH
                           the same to every member of GROUP (sealed once; waits for all)
  download ATTACHMENT_ID --out PATH
                           write a received attachment to PATH (receive --peek shows its id;
                           or let receive --save-attachments DIR save each one before its ack)
  group create NAME USER...  create a group owned by this daemon; prints the Group
  group add GROUP USER...    add members (owner only); prints the Group
  group remove GROUP USER... remove members (owner only); prints the Group
  group leave GROUP        leave the group (its owner leaving ends it)
  group rotate GROUP       a new sender key now (the next group message carries it); prints {groupId, keyId}
  groups                   the groups this daemon is a member of

Options:
  --socket PATH            the daemon's API socket
  --tcp HOST:PORT          connect over TCP instead (PORT alone = 127.0.0.1:PORT)
  --token T                bearer token for --tcp
  --token-file F           read the bearer token from F
  --content-type TYPE      send: MIME type of the body (default text/plain; charset=utf-8)
  --idempotency-key KEY    send, send-file: the same key never sends twice
  --detach                 send-file: return once the daemon has stored the file
  --out PATH               download: where to write the file
  --group GROUP            send, send-file: to this group instead of a USER
  --follow                 receive: keep streaming until interrupted
  --cursor N               receive: only messages after this cursor
  --peek                   receive: print without acking (they are offered again)
  --save-attachments DIR   receive: save each message's attachment into DIR (as ID8-NAME, the
                           sender's name made safe) before acking it; the line gets "savedTo"
  --timeout SECONDS        health: give up and exit 1 after this long (default 5)
  -h, --help               show this help
`;

const OPTIONS = {
  socket: { type: 'string' },
  tcp: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'content-type': { type: 'string' },
  'idempotency-key': { type: 'string' },
  group: { type: 'string' },
  follow: { type: 'boolean' },
  cursor: { type: 'string' },
  peek: { type: 'boolean' },
  'save-attachments': { type: 'string' },
  timeout: { type: 'string' },
  detach: { type: 'boolean' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMANDS = ['whoami', 'send', 'receive', 'contacts', 'verify', 'status', 'health', 'dead-letters', 'redrive', 'send-file', 'download', 'group', 'groups'] as const;
type Command = (typeof COMMANDS)[number];

/** Options that only one command takes: from the environment they are ignored by the others. */
const COMMAND_OPTIONS: Record<string, readonly Command[]> = {
  follow: ['receive'],
  peek: ['receive'],
  cursor: ['receive'],
  'save-attachments': ['receive'],
  'content-type': ['send', 'send-file'],
  detach: ['send-file'],
  out: ['download'],
  'idempotency-key': ['send', 'send-file'],
  group: ['send', 'send-file'],
  timeout: ['health'],
};

/** Options that exclude each other: a flag of one hides a variable of the other (args.ts). */
const EXCLUSIVE = [
  ['socket', 'tcp'],
  ['token', 'token-file'],
];

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function receive(client: MessengerClient, follow: boolean, peek: boolean, cursor: number, saveDir: string | undefined): Promise<void> {
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
      let json = eventJson(event);
      const attachment = event.kind === 'message' ? event.message.attachment : undefined;
      if (attachment !== undefined && saveDir !== undefined && json !== undefined) {
        const savedTo = join(saveDir, savedAttachmentName(attachment.attachmentId, attachment.fileName));
        await downloadTo(client, attachment.attachmentId, savedTo);
        json = { ...json, savedTo };
      }
      if (json !== undefined) printJson(json);
      if (event.kind === 'message' && !peek) await client.ack([event.message.messageId]);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const USAGE: Record<Command, { min: number; max: number; usage: string }> = {
  whoami: { min: 0, max: 0, usage: 'whoami' },
  send: { min: 1, max: Infinity, usage: 'send USER TEXT' },
  receive: { min: 0, max: 0, usage: 'receive [--follow] [--peek] [--cursor N] [--save-attachments DIR]' },
  contacts: { min: 0, max: 0, usage: 'contacts' },
  verify: { min: 2, max: Infinity, usage: 'verify USER NUMBER' },
  status: { min: 0, max: 0, usage: 'status' },
  health: { min: 0, max: 0, usage: 'health [--timeout SECONDS]' },
  'dead-letters': { min: 0, max: 0, usage: 'dead-letters' },
  redrive: { min: 0, max: Infinity, usage: 'redrive [MESSAGE_ID...]' },
  'send-file': { min: 2, max: 2, usage: 'send-file USER PATH | --group GROUP PATH [--content-type TYPE] [--idempotency-key KEY] [--detach]' },
  download: { min: 1, max: 1, usage: 'download ATTACHMENT_ID --out PATH' },
  group: { min: 2, max: Infinity, usage: GROUP_USAGE },
  groups: { min: 0, max: 0, usage: 'groups' },
};

function checkArguments(command: Command, args: string[], values: Record<string, string | boolean | undefined>): void {
  const { min, max, usage } = USAGE[command];
  const toGroup = command === 'send' && values['group'] !== undefined; // send --group GROUP [TEXT]: no USER
  if (!toGroup && (args.length < min || args.length > max)) {
    // send-file --group GROUP PATH: the PATH alone
    if (!(command === 'send-file' && values['group'] !== undefined && args.length === 1)) throw new UsageError(`usage: ratchetd ctl ${usage}`);
  }
  if (command === 'send-file' && values['group'] !== undefined && args.length !== 1) throw new UsageError(`usage: ratchetd ctl ${usage}`);
  if (command !== 'receive' && (values['follow'] !== undefined || values['peek'] !== undefined || values['cursor'] !== undefined || values['save-attachments'] !== undefined)) {
    throw new UsageError('--follow, --peek, --cursor and --save-attachments only apply to receive');
  }
  if (command !== 'send' && command !== 'send-file' && (values['idempotency-key'] !== undefined || values['group'] !== undefined)) {
    throw new UsageError('--idempotency-key and --group only apply to send and send-file');
  }
  if (command !== 'send' && command !== 'send-file' && values['content-type'] !== undefined) throw new UsageError('--content-type only applies to send and send-file');
  if (command !== 'send-file' && values['detach'] !== undefined) throw new UsageError('--detach only applies to send-file');
  if (command === 'download' && stringOption(values, 'out') === undefined) throw new UsageError(`usage: ratchetd ctl ${USAGE.download.usage}`);
  if (command !== 'download' && values['out'] !== undefined) throw new UsageError('--out only applies to download');
  if (command === 'group') checkGroupArguments(args);
  if (command !== 'health' && values['timeout'] !== undefined) throw new UsageError('--timeout only applies to health');
  const cursor = stringOption(values, 'cursor');
  if (cursor !== undefined) parseNonNegativeInt(cursor, '--cursor');
}

async function run(client: MessengerClient, command: string, args: string[], values: Record<string, string | boolean | undefined>): Promise<void> {
  switch (command) {
    case 'whoami':
      return printJson(identityJson(await client.getIdentity()));
    case 'send': {
      const groupId = stringOption(values, 'group');
      const [to = '', ...words] = groupId === undefined ? args : ['', ...args];
      const body = words.length > 0 ? words.join(' ') : await readStdin();
      const contentType = stringOption(values, 'content-type');
      const idempotencyKey = stringOption(values, 'idempotency-key');
      const result = await client.send({
        ...(groupId === undefined ? { to } : { groupId }),
        body,
        ...(contentType === undefined ? {} : { contentType }),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      });
      return printJson(result);
    }
    case 'receive': {
      const cursorText = stringOption(values, 'cursor');
      const cursor = cursorText === undefined ? 0 : parseNonNegativeInt(cursorText, '--cursor');
      const saveDir = stringOption(values, 'save-attachments');
      if (saveDir !== undefined) await checkSaveDir(saveDir);
      return receive(client, values['follow'] === true, values['peek'] === true, cursor, saveDir);
    }
    case 'contacts':
      return printJson({ contacts: (await client.listContacts()).map(contactJson) });
    case 'verify': {
      const [userId = '', ...number] = args;
      return printJson(contactJson(await client.verifyContact(userId, number.join(' '))));
    }
    case 'status':
      return printJson(statusJson(await client.getStatus()));
    case 'dead-letters':
      return printJson(await client.listDeadLetters());
    case 'redrive':
      return printJson({ redriven: await client.redriveDeadLetters(args) });
    case 'send-file':
    {
      const groupId = stringOption(values, 'group');
      const idempotencyKey = stringOption(values, 'idempotency-key');
      const target = groupId === undefined ? { to: args[0]! } : { groupId };
      return ctlSendFile(client, target, args.at(-1)!, { contentType: stringOption(values, 'content-type'), detach: values['detach'] === true, idempotencyKey });
    }
    case 'download':
      return ctlDownload(client, args[0]!, stringOption(values, 'out')!);
    case 'group':
      return runGroupCommand(client, args);
    case 'groups':
      return listGroups(client);
    default:
      throw new UsageError(`unknown ctl command "${command}" (one of ${COMMANDS.join(', ')})`);
  }
}

export async function runCtlCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS, true, { env, exclusive: EXCLUSIVE });
  if (parsed.values['help'] === true) {
    process.stdout.write(CTL_HELP + environmentHelp(OPTIONS));
    return 0;
  }
  return attributeToEnvironment(parsed, async () => {
    const [command, ...args] = parsed.positionals;
    if (command === undefined) throw new UsageError(`missing command (one of ${COMMANDS.join(', ')})`);
    if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown ctl command "${command}" (one of ${COMMANDS.join(', ')})`);
    const values = withoutEnvironment(
      parsed,
      Object.keys(COMMAND_OPTIONS).filter((name) => !COMMAND_OPTIONS[name]?.includes(command as Command)),
    );
    checkArguments(command as Command, args, values);
    if (command === 'health') return ctlHealth(values);
    return runClient(command, args, values);
  });
}

async function runClient(command: string, args: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  const client = connectMessenger(await connectOptions(values));
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
