/**
 * Queued messages for an offline persistent-session subscriber (clean:false, QoS 1) survive a broker
 * restart on the same data dir: a clean close+start in this process, and a SIGKILL of a broker child.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from '../core/crypto.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';
import { createBroker } from './broker.ts';
import { connectAs, end, inboxTopic, newIdentity, tempDir, until } from './test-support.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, '..', 'test', 'fixtures', 'broker-child.ts');

let crypto: Crypto;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** Starts broker-child.ts and resolves with its URL from the ready line. */
async function startChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  // One process (node with tsx's loader), not the tsx CLI, which runs the script in a grandchild
  // that a SIGKILL of the CLI would leave running (and holding the LevelDB lock).
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`broker child exited (${code}) before its ready line`)));
    lines.once('line', (line) => {
      const ready = JSON.parse(line) as { event: string; mqtt: string };
      if (ready.event === 'ready') resolve(ready.mqtt);
      else reject(new Error(`unexpected line: ${line}`));
    });
  });
  return { child, url };
}

/** Bob (clean:false) subscribes once, then goes offline: the broker now queues his inbox. */
async function registerOfflineSubscriber(url: string, bob: RelayIdentity): Promise<void> {
  const b = await connectAs(url, crypto, bob, { clean: false });
  await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
  await end(b);
}

/**
 * Alice sends `count` messages to bob (offline), then one to carol (online, clean:false). The broker
 * completes enqueues in publish order (ordered-enqueue.ts), so once carol has hers, bob's are stored.
 */
async function sendQueued(url: string, alice: RelayIdentity, bob: RelayIdentity, carol: RelayIdentity, from: number, count: number): Promise<void> {
  // Carol's session may still hold an unacknowledged barrier from a previous run: wait for this one.
  const marker = `barrier-${from}`;
  let arrived = false;
  const c = await connectAs(url, crypto, carol, { clean: false, onMessage: (_t, p) => (arrived ||= p.toString() === marker) });
  await c.subscribeAsync(inboxTopic(carol.userId), { qos: 1 });
  const a = await connectAs(url, crypto, alice);
  const sends = Array.from({ length: count }, (_, i) => a.publishAsync(inboxTopic(bob.userId), `m${from + i}`, { qos: 1 }));
  await Promise.all(sends);
  await a.publishAsync(inboxTopic(carol.userId), marker, { qos: 1 });
  await until(() => arrived);
  await end(a, c);
}

/** Bob comes back (clean:false) and collects what the broker queued for him. */
async function collect(url: string, bob: RelayIdentity, expected: number): Promise<string[]> {
  const got: string[] = [];
  let b: MqttClient | undefined;
  try {
    // The handler is installed before CONNECT: queued messages arrive right after CONNACK.
    b = await connectAs(url, crypto, bob, { clean: false, onMessage: (_t, p) => got.push(p.toString()) });
    expect(b.options.clean).toBe(false);
    await until(() => got.length >= expected);
    return got;
  } finally {
    await end(b);
  }
}

const names = (from: number, count: number) => Array.from({ length: count }, (_, i) => `m${from + i}`);

describe('queued messages survive a broker restart', () => {
  it('close() and start() again on the same data dir: 50 before + 50 after, none lost or duplicated', async () => {
    const tmp = await tempDir('restart');
    cleanups.push(tmp.remove);
    const [alice, bob, carol] = [newIdentity(crypto), newIdentity(crypto), newIdentity(crypto)];

    const first = createBroker({ dataDir: tmp.dir, crypto });
    cleanups.push(() => first.close());
    const { url } = await first.start();
    await registerOfflineSubscriber(url, bob);
    await sendQueued(url, alice, bob, carol, 0, 50);
    await first.close();

    const second = createBroker({ dataDir: tmp.dir, crypto });
    cleanups.push(() => second.close());
    const { url: url2 } = await second.start();
    await sendQueued(url2, alice, bob, carol, 50, 50);
    const got = await collect(url2, bob, 100);
    // Order after a restart is arbitrary with level persistence: compare as sets, and count.
    expect(got.length).toBe(100);
    expect(new Set(got)).toEqual(new Set(names(0, 100)));
  });

  it('SIGKILL of a broker process: queued messages are still delivered after a new process starts', async () => {
    const tmp = await tempDir('sigkill');
    cleanups.push(tmp.remove);
    const [alice, bob, carol] = [newIdentity(crypto), newIdentity(crypto), newIdentity(crypto)];

    const one = await startChild(tmp.dir);
    await registerOfflineSubscriber(one.url, bob);
    await sendQueued(one.url, alice, bob, carol, 0, 50);
    const killed = new Promise((resolve) => one.child.once('exit', (_code, signal) => resolve(signal)));
    one.child.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');

    const two = await startChild(tmp.dir);
    await sendQueued(two.url, alice, bob, carol, 50, 50);
    const got = await collect(two.url, bob, 100);
    expect(got.length).toBe(100);
    expect(new Set(got)).toEqual(new Set(names(0, 100)));

    const stopped = new Promise((resolve) => two.child.once('exit', (code) => resolve(code)));
    two.child.kill('SIGTERM');
    expect(await stopped).toBe(0); // clean shutdown path of the fixture
  });
});
