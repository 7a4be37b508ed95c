/**
 * `ratchetd backup` and `ratchetd restore` as real processes on a real (LevelDB) data dir: the happy
 * path, and every refusal as one clear line on stderr with nothing written.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePeerRecord } from '../../core/index.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import type { Crypto } from '../../core/crypto.ts';
import { createDaemon, type Daemon } from '../engine/index.ts';
import { REESTABLISH_PREFIX } from '../engine/restored-sessions.ts';
import { createTestNet, silentLogger, startTestDaemon, text } from '../engine/test-support.ts';
import { wholePeerRecord } from '../backup/backup-contents.ts';
import { storeMigrations } from '../engine/store-migrations.ts';
import { openDataDirStore } from '../store/open-store.ts';
import { runCli, type Finished } from './spawn-cli.ts';

let root: string;
let source: string;
let passFile: string;
let crypto: Crypto;
let bobId: string;
let aliceId: string;

const lines = (t: string): string[] => t.split('\n').filter((l) => l !== '');
function expectOneLineError(r: Finished, code: number, pattern: RegExp): void {
  expect(r.stdout).toBe('');
  expect(lines(r.stderr)).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.code).toBe(code);
}
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/** bob on a LevelDB data dir (relay in-process), after one message each way with alice. */
function bobOnDisk(dataDir: string, net: Awaited<ReturnType<typeof createTestNet>>): Daemon {
  return createDaemon({
    dataDir,
    brokerUrl: 'fake://relay',
    logger: silentLogger,
    crypto: net.crypto,
    relay: (id) => net.hub.transport(id),
    timing: { receiptDelayMs: 1, connectWaitMs: 1000 },
  });
}

beforeAll(async () => {
  crypto = await createSodiumCrypto();
  root = await mkdtemp(join(tmpdir(), 'ratchetd-backup-'));
  source = join(root, 'bob');
  passFile = join(root, 'backup.pass');
  await writeFile(passFile, 'the backup passphrase\n', { mode: 0o600 });
  const net = await createTestNet();
  const alice = await startTestDaemon(net);
  aliceId = alice.userId;
  const bob = bobOnDisk(source, net);
  bobId = (await bob.start()).userId;
  const got: string[] = [];
  await bob.backend.subscribe(0, (e) => e.kind === 'message' && got.push(e.message.from));
  await alice.daemon.backend.send({ to: bobId as never, body: text('hello bob') });
  await alice.log.until(() => got.length === 1, 'hello at bob');
  await bob.backend.send({ to: aliceId as never, body: text('hello alice') });
  await alice.log.until((l) => l.texts().length === 1, 'reply at alice');
  await net.hub.idle();
  await bob.close();
  alice.unsubscribe();
  await alice.daemon.close();
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function backupTo(name: string): Promise<{ file: string; result: Finished }> {
  const file = join(root, name);
  const result = await runCli(['backup', '--data', source, '--out', file, '--backup-passphrase-file', passFile, '--kdf-cost', 'interactive']);
  return { file, result };
}

describe('ratchetd backup / restore', () => {
  it.each([[['backup', '--help']], [['restore', '--help']]])('%j prints its usage', async (args) => {
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ratchetd (backup|restore)/);
    expect(r.stdout).toMatch(/--backup-passphrase-file/);
    expect(r.stdout).toMatch(/RATCHETD_BACKUP_PASSPHRASE/);
  });

  it('backs up a stopped data dir and restores it into a new one: same user, contact and transcript, no session, one re-establish marker', async () => {
    const { file, result } = await backupTo('ok.backup');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ event: 'backup', userId: bobId, file, contacts: 1 });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const target = join(root, 'restored');
    const r = await runCli(['restore', '--in', file, '--data', target], { env: { RATCHETD_BACKUP_PASSPHRASE: 'the backup passphrase' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ event: 'restored', userId: bobId, data: target, contacts: 1 });
    // opened as the daemon opens it: the restored records (whole peer records, schema v1) are split
    const store = await openDataDirStore({ dataDir: target, crypto, migrations: storeMigrations(crypto) });
    try {
      expect(await store.get('contact', aliceId)).toBeDefined();
      const peer = decodePeerRecord(await wholePeerRecord(store, (await store.get('peer', aliceId))!));
      expect(peer.active).toBeNull();
      expect(peer.archived).toEqual([]);
      expect(peer.transcript.sendSeq).toBe(1);
      expect(peer.transcript.recvSeq).toBe(1);
      const tags = [];
      for await (const t of store.iterate('routingTag')) tags.push(t);
      expect(tags).toEqual([]);
      const markers = [];
      for await (const m of store.iterate('meta', { prefix: REESTABLISH_PREFIX })) markers.push(m);
      expect(markers).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('refuses a data dir a daemon is running on, naming the lock; writes no file', async () => {
    const net = await createTestNet();
    const running = bobOnDisk(source, net);
    await running.start();
    try {
      const { file, result } = await backupTo('locked.backup');
      expectOneLineError(result, 1, /locked \(.*store\/LOCK is held\): a daemon is running on this data dir; stop it/);
      expect(await exists(file)).toBe(false);
    } finally {
      await running.close();
    }
  });

  it('a wrong passphrase, a truncated or an altered file, or another file is refused and no data dir is created', async () => {
    const { file } = await backupTo('good.backup');
    const bytes = await readFile(file);
    const truncated = join(root, 'truncated.backup');
    await writeFile(truncated, bytes.subarray(0, bytes.length - 10));
    const altered = join(root, 'altered.backup');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 40]! ^= 0x10;
    await writeFile(altered, flipped);
    const other = join(root, 'other.backup');
    await writeFile(other, 'hello');
    const wrongPass = join(root, 'wrong.pass');
    await writeFile(wrongPass, 'not the backup passphrase\n');
    const cases: Array<[string, string, RegExp]> = [
      [file, wrongPass, /wrong backup passphrase/],
      [truncated, passFile, /backup file is truncated/],
      [altered, passFile, /altered or damaged/],
      [other, passFile, /not a ratchetd backup file/],
    ];
    for (const [input, pass, pattern] of cases) {
      const target = join(root, `never-${input.split('/').pop()}`);
      const r = await runCli(['restore', '--in', input, '--data', target, '--backup-passphrase-file', pass]);
      expectOneLineError(r, 1, pattern);
      expect(await exists(target)).toBe(false);
    }
  });

  it('refuses a non-empty target dir and leaves it as it was; an empty one is fine', async () => {
    const { file } = await backupTo('again.backup');
    const target = join(root, 'busy');
    await mkdir(target);
    await writeFile(join(target, 'notes.txt'), 'mine');
    const r = await runCli(['restore', '--in', file, '--data', target, '--backup-passphrase-file', passFile]);
    expectOneLineError(r, 1, /busy is not empty \(notes\.txt\): restore into a new or empty directory/);
    expect(await readdir(target)).toEqual(['notes.txt']);
    const empty = join(root, 'empty');
    await mkdir(empty);
    const ok = await runCli(['restore', '--in', file, '--data', empty, '--backup-passphrase-file', passFile]);
    expect(ok.code).toBe(0);
    expect((await readdir(empty)).sort()).toEqual(['store', 'store.key']);
  });

  it('uses the at-rest key as the daemon does: restore under a new at-rest passphrase, back that up with it, a wrong one is refused', async () => {
    const { file } = await backupTo('chain.backup');
    const atRest = join(root, 'at-rest.pass');
    await writeFile(atRest, 'the new host at-rest passphrase\n', { mode: 0o600 });
    const target = join(root, 'with-passphrase');
    const r = await runCli(['restore', '--in', file, '--data', target, '--backup-passphrase-file', passFile, '--passphrase-file', atRest]);
    expect(r.code).toBe(0);
    expect((await readdir(target)).sort()).toEqual(['store', 'store.salt']);
    const again = join(root, 'from-the-new-host.backup');
    const ok = await runCli(['backup', '--data', target, '--out', again, '--backup-passphrase-file', passFile, '--passphrase-file', atRest, '--kdf-cost', 'interactive']);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toMatchObject({ userId: bobId });
    const wrong = await runCli(['backup', '--data', target, '--out', join(root, 'never.backup'), '--backup-passphrase-file', passFile, '--passphrase-file', passFile]);
    expectOneLineError(wrong, 1, /cannot decrypt the store: wrong key file or passphrase/);
    expect(await exists(join(root, 'never.backup'))).toBe(false);
  });

  it('needs a backup passphrase; the source must hold a store', async () => {
    const r = await runCli(['backup', '--data', source, '--out', join(root, 'x.backup')], { env: { RATCHETD_BACKUP_PASSPHRASE: '' } });
    expectOneLineError(r, 2, /a backup passphrase is required: --backup-passphrase-file F or RATCHETD_BACKUP_PASSPHRASE/);
    const nothing = join(root, 'nothing');
    await mkdir(nothing);
    const n = await runCli(['backup', '--data', nothing, '--out', join(root, 'y.backup'), '--backup-passphrase-file', passFile]);
    expectOneLineError(n, 1, /holds no ratchetd store/);
    expect(await readdir(nothing)).toEqual([]);
  });
});
