/**
 * `npm run demo`: two daemons (alice and bob) talk through a broker while the terminal shows, side
 * by side, what each side wrote and read through its local API and what the relay saw (the MQTT
 * PUBLISH packets, captured by a wiretap between the daemons and the broker). Everything runs in
 * this process with data in a temp dir that is removed at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createBroker } from '../../broker/index.ts';
import { connectMessenger, type MessengerClient } from '../api/client.ts';
import { createApiServer, type ApiServer } from '../api/server.ts';
import { createDaemon, type Daemon } from '../engine/index.ts';
import { startWiretap, type TappedPublish } from './wiretap.ts';

const COLUMN = 34;
const RELAY_COLUMN = 50;

function cell(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

function row(left: string, middle: string, right: string): void {
  process.stdout.write(`${cell(left, COLUMN)} │ ${cell(middle, RELAY_COLUMN)} │ ${cell(right, COLUMN)}\n`);
}

function short(userId: string): string {
  return `${userId.slice(0, 8)}…`;
}

function describePublish(p: TappedPublish, names: Map<string, string>): string {
  const parts = p.topic.split('/');
  const owner = parts.at(-1) ?? '';
  const kind = parts.at(-2) ?? p.topic;
  const bytes = Buffer.from(p.payload);
  const hex = `${bytes.subarray(0, 4).toString('hex')}…${bytes.subarray(-10).toString('hex')}`;
  return `${kind}/${names.get(owner) ?? short(owner)} ${p.payload.length}B ${hex}`;
}

interface Party {
  name: string;
  engine: Daemon;
  api: ApiServer;
  client: MessengerClient;
  userId: string;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'ratchetd-demo-'));
  const logger = pino({ level: process.env['RATCHETD_LOG_LEVEL'] ?? 'silent' }, pino.destination(2));
  const closers: (() => Promise<void>)[] = [() => rm(root, { recursive: true, force: true })];
  const relaySaw: TappedPublish[] = [];
  try {
    const broker = createBroker({ port: 0, persistence: 'memory', logger: logger.child({ part: 'broker' }) });
    closers.push(() => broker.close());
    const { url } = await broker.start();
    const tap = await startWiretap(url, (p) => relaySaw.push(p));
    closers.push(() => tap.close());

    const startParty = async (name: string): Promise<Party> => {
      const engine = createDaemon({ dataDir: join(root, name), brokerUrl: tap.url, logger: logger.child({ part: name }) });
      closers.push(() => engine.close());
      const { userId } = await engine.start();
      const api = createApiServer({ backend: engine.backend, socketPath: join(root, name, 'api.sock'), logger: logger.child({ part: `${name}-api` }) });
      closers.push(() => api.close());
      const listening = await api.start();
      const client = connectMessenger({ socketPath: listening.socket ?? '' });
      closers.push(async () => client.close());
      return { name, engine, api, client, userId };
    };
    const alice = await startParty('alice');
    const bob = await startParty('bob');
    const names = new Map([
      [alice.userId, 'alice'],
      [bob.userId, 'bob'],
    ]);

    process.stdout.write(`\nratchetd demo: alice (${short(alice.userId)}) and bob (${short(bob.userId)}) through a broker at ${url}\n\n`);
    row('ALICE (her daemon API)', 'RELAY SAW (topic, size, first…last bytes)', 'BOB (his daemon API)');
    row('─'.repeat(COLUMN), '─'.repeat(RELAY_COLUMN), '─'.repeat(COLUMN));
    const flushRelay = (): void => {
      for (const p of relaySaw.splice(0)) row('', describePublish(p, names), '');
    };
    flushRelay();

    const exchange = async (from: Party, to: Party, text: string): Promise<void> => {
      await from.client.send({ to: to.userId, body: text });
      const sent = `sent: "${text}"`;
      if (from === alice) row(sent, '', '');
      else row('', '', sent);
      for await (const event of to.client.receive()) {
        if (event.kind !== 'message') continue;
        await to.client.ack([event.message.messageId]);
        flushRelay();
        const read = `read: "${new TextDecoder().decode(event.message.body)}"`;
        if (to === alice) row(read, '', '');
        else row('', '', read);
        break;
      }
      row('', '', '');
    };

    await exchange(alice, bob, 'Hi Bob, this is end-to-end encrypted.');
    await exchange(bob, alice, 'Hi Alice! The relay only sees noise.');
    await exchange(alice, bob, 'same words');
    await exchange(alice, bob, 'same words');
    await new Promise((r) => setTimeout(r, 200)); // let delivery receipts cross the relay too
    flushRelay();

    const aliceView = (await alice.client.listContacts()).find((c) => c.userId === bob.userId);
    const bobView = (await bob.client.listContacts()).find((c) => c.userId === alice.userId);
    process.stdout.write(
      `\nThe relay saw prekey bundles (public keys), messages and encrypted delivery receipts, padded to fixed sizes;\n` +
        `the same text twice gives unrelated ciphertexts (a fresh message key each time), and no key or word ever crossed it.\n` +
        `Safety number, as alice sees bob: ${aliceView?.safetyNumber ?? '?'}\n` +
        `Safety number, as bob sees alice: ${bobView?.safetyNumber ?? '?'}\n` +
        `(equal on both sides: compare them out of band, then "ratchetd ctl verify")\n\n`,
    );
  } finally {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  }
}

try {
  await main();
  process.exitCode = 0;
} catch (e) {
  process.stderr.write(`ratchetd demo: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
process.stdout.write('', () => process.exit(process.exitCode ?? 0));
