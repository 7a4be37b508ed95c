/**
 * The daemon engine on its production parts — LevelDB store, mqtt.js relay client with CONNECT
 * proofs — through the real broker (Aedes + LevelDB persistence), all in this process.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker } from '../broker/index.ts';
import type { RelayBroker } from '../broker/index.ts';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import { createDaemon, type Daemon } from '../daemon/engine/index.ts';
import { EventLog, silentLogger, text } from '../daemon/engine/test-support.ts';
import type { UserId } from '../core/user-id.ts';

const crypto = await createSodiumCrypto();
const dirs: string[] = [];
const daemons: Daemon[] = [];
let broker: RelayBroker | undefined;

async function tempDir(name: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `ratchetd-${name}-`));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
  await broker?.close();
  broker = undefined;
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

async function startBroker(dataDir: string, port = 0): Promise<string> {
  broker = createBroker({ dataDir, port, logger: silentLogger, crypto });
  const { url } = await broker.start();
  return url;
}

interface Running {
  daemon: Daemon;
  userId: UserId;
  log: EventLog;
  dataDir: string;
}

async function startDaemon(dataDir: string, brokerUrl: string): Promise<Running> {
  const daemon = createDaemon({ dataDir, brokerUrl, logger: silentLogger, crypto, timing: { receiptDelayMs: 5 } });
  daemons.push(daemon);
  const { userId } = await daemon.start();
  const log = new EventLog();
  await daemon.backend.subscribe(0, log.push);
  return { daemon, userId, log, dataDir };
}

async function stop(r: Running): Promise<void> {
  await r.daemon.close();
  daemons.splice(daemons.indexOf(r.daemon), 1);
}

async function filesUnder(dir: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) parts.push(await readFile(join(e.parentPath, e.name)));
  }
  return Buffer.concat(parts);
}

describe('engine through the real broker', () => {
  it('two daemons exchange messages both ways with delivery receipts; nothing readable at rest', async () => {
    const url = await startBroker(await tempDir('broker'));
    const alice = await startDaemon(await tempDir('alice'), url);
    const bob = await startDaemon(await tempDir('bob'), url);
    const secret = 'the eagle lands at midnight';
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text(secret) });
    await bob.log.until((l) => l.texts(alice.userId).includes(secret), 'bob receives');
    await bob.daemon.backend.send({ to: alice.userId, body: text('roger') });
    await alice.log.until((l) => l.texts(bob.userId).includes('roger'), 'alice receives');
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), 'delivered');
    const status = await alice.daemon.backend.getStatus();
    expect(status).toMatchObject({ brokerConnected: true, outboxDepth: 0, contacts: 1 });
    await stop(alice);
    await stop(bob);
    for (const dir of [alice.dataDir, bob.dataDir]) {
      const bytes = await filesUnder(dir);
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
      expect(bytes.includes(Buffer.from('roger'))).toBe(false);
    }
  });

  it('a recipient offline during 200 sends gets all of them, once, in order; a broker restart loses none', async () => {
    const brokerDir = await tempDir('broker');
    let url = await startBroker(brokerDir);
    const alice = await startDaemon(await tempDir('alice'), url);
    let bob = await startDaemon(await tempDir('bob'), url);
    await stop(bob);
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`n${i}`) })).messageId);
    // (this also guards a deadlock: bob must take 200 queued handshakes while publishing his bundle)
    // wait until the broker has acknowledged every publish ('sent'), then restart the broker
    await alice.log.until((l) => l.events.filter((e) => e.kind === 'delivery' && e.state === 'sent').length === 200, '200 sent');
    const port = Number(new URL(url).port);
    await broker?.close();
    url = await startBroker(brokerDir, port);
    bob = await startDaemon(bob.dataDir, url);
    await bob.log.until((l) => l.messages().length >= 200, 'bob receives 200');
    expect(bob.log.messages().map((m) => m.messageId)).toEqual(sent);
    await alice.log.until((l) => l.events.filter((e) => e.kind === 'delivery' && e.state === 'delivered').length === 200, '200 delivered');
  });

  it('a daemon restart keeps its identity and sessions (no new handshake needed)', async () => {
    const url = await startBroker(await tempDir('broker'));
    let alice = await startDaemon(await tempDir('alice'), url);
    const bob = await startDaemon(await tempDir('bob'), url);
    await alice.daemon.backend.send({ to: bob.userId, body: text('before') });
    await bob.log.until((l) => l.texts().includes('before'), 'before');
    await bob.daemon.backend.send({ to: alice.userId, body: text('reply') });
    await alice.log.until((l) => l.texts().includes('reply'), 'reply');
    const id = alice.userId;
    await stop(alice);
    alice = await startDaemon(alice.dataDir, url);
    expect(alice.userId).toBe(id);
    expect(alice.log.texts()).toEqual(['reply']); // unacked, replayed after the restart
    await alice.daemon.backend.send({ to: bob.userId, body: text('after') });
    await bob.log.until((l) => l.texts().includes('after'), 'after');
    expect((await alice.daemon.backend.listContacts()).map((c) => c.userId)).toEqual([bob.userId]);
  });
});
