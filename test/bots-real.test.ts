// The example bots against real daemons: a harness network (real broker, real daemons, end-to-end
// encryption), a person "alice" on daemon 0 using the SDK, and one example bot per other daemon.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Bot } from '../bots/sdk/index.ts';
import { startNetwork, type Network, type NetworkDaemon } from '../bots/harness/network.ts';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';

const example = (name: string): string => fileURLToPath(new URL(`../bots/examples/${name}.ts`, import.meta.url));

let net: Network;
let alice: Bot;
const examples: ReadyProcess[] = [];

beforeAll(async () => {
  net = await startNetwork({ daemons: 4 });
  alice = net.daemon(0).bot;
  // Daemons 1-3 belong to the example bots: their harness clients step aside.
  await Promise.all(net.daemons.slice(1).map((d) => d.bot.stop()));
});

afterAll(async () => {
  await Promise.all(examples.map((p) => stopProcess(p, 2_000)));
  await net.stop();
});

async function startExample(name: string, daemon: NetworkDaemon, args: string[] = []): Promise<ReadyProcess> {
  const bot = await spawnReady(process.execPath, ['--import', 'tsx', example(name), '--socket', daemon.socket, '--log-level', 'warn', ...args], { name });
  examples.push(bot);
  return bot;
}

/** Alice sends `text` to `to` and returns the next message she gets from `to`. */
async function ask(to: NetworkDaemon, text: string): Promise<string> {
  await alice.send(to.userId, text);
  return (await alice.waitForMessage((m) => m.from === to.userId)).text;
}

describe('example bots on real daemons', () => {
  it('echo answers through the broker', async () => {
    const echo = net.daemon(1);
    const started = await startExample('echo', echo);
    expect(started.ready['userId']).toBe(echo.userId);
    expect(await ask(echo, 'hello, real echo')).toBe('hello, real echo');
    expect(await ask(echo, '/help')).toMatch(/^Echo bot: I send back every message you send me\./);
  });

  it('iot obeys alice only after its daemon verified her safety number, then streams readings', async () => {
    const iot = net.daemon(2);
    await startExample('iot', iot, ['--interval', '0.2', '--device', 'lab']);
    expect(await ask(iot, '/subscribe')).toMatch(/^Only verified contacts may use \/subscribe/);

    // The device owner compares safety numbers out of band and verifies alice on the device's daemon.
    const owner = await connect({ socket: iot.socket });
    try {
      const contact = (await owner.listContacts()).find((c) => c.userId === alice.userId);
      expect(contact?.trust).toBe('unverified');
      const aliceSide = (await alice.listContacts()).find((c) => c.userId === iot.userId);
      expect(aliceSide?.safetyNumber).toBe(contact?.safetyNumber);
      expect((await owner.verifyContact(alice.userId, contact?.safetyNumber ?? '')).trust).toBe('verified');
    } finally {
      await owner.stop();
    }

    expect(await ask(iot, '/subscribe')).toMatch(/^Subscribed: a reading every 0\.2 s\. Now: lab: /);
    for (let i = 0; i < 2; i++) {
      const reading = await alice.waitForMessage((m) => m.from === iot.userId);
      expect(reading.text).toMatch(/^lab: -?\d+\.\d °C, \d+ % RH at \d{4}-/);
    }
    expect(await ask(iot, '/unsubscribe')).toBe('Unsubscribed.');
  });

  it('ci-notify sends to alice, waits for her answer and prints it', async () => {
    const ci = net.daemon(3);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', example('ci-notify'), '--socket', ci.socket, '--log-level', 'silent', '--to', alice.userId, '--wait-reply', '--timeout', '60', 'deploy build 7?'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.once('close', done));

    const question = await alice.waitForMessage((m) => m.from === ci.userId);
    expect(question.text).toBe('deploy build 7?');
    await question.reply('yes, ship it');
    expect(await exited).toBe(0);
    expect(stdout).toBe('yes, ship it\n');
    expect(stderr).toBe('');
  });
});
