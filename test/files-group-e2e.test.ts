/**
 * A file to a group end to end with real processes: `ratchetd broker` (LevelDB persistence) and
 * three `ratchetd daemon`s from bin/ratchetd.mjs. `ctl group create`, then `ctl send-file --group
 * GROUP PATH` returns once both members have stored and verified the file; each member's event
 * stream carries the message once, with its attachment and groupId; `ctl download` gives the same
 * bytes; the same --idempotency-key again prints the same message id and sends nothing; the SDK's
 * bot.sendFileToGroup does the same from a bot.
 */
import { execFile } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';
import { connectMessenger, type ApiEvent, type MessengerClient } from '../daemon/api/client.ts';
import { connect } from '../bots/sdk/index.ts';

const run = promisify(execFile);
const BIN = new URL('../bin/ratchetd.mjs', import.meta.url).pathname;
const procs = new Set<ReadyProcess>();
const clients = new Set<MessengerClient>();
const aborts = new Set<AbortController>();
const dirs: string[] = [];

afterEach(async () => {
  for (const a of aborts) a.abort();
  aborts.clear();
  for (const c of clients) c.close();
  clients.clear();
  await Promise.all([...procs].map((p) => stopProcess(p)));
  procs.clear();
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ratchetd-files-group-e2e-'));
  dirs.push(d);
  return d;
}

async function spawn(args: string[], name: string): Promise<ReadyProcess> {
  const p = await spawnReady(process.execPath, [BIN, ...args, '--log-level', 'warn'], { name, readyTimeoutMs: 45_000 });
  procs.add(p);
  return p;
}

async function startBroker(dir: string, port = 0): Promise<{ proc: ReadyProcess; url: string; port: number }> {
  const proc = await spawn(['broker', '--port', String(port), '--data', dir, '--persistence', 'level'], 'broker');
  const url = String(proc.ready['mqtt']);
  return { proc, url, port: Number(new URL(url).port) };
}

interface Party {
  dir: string;
  proc: ReadyProcess;
  userId: string;
  socket: string;
  client: MessengerClient;
  events: ApiEvent[];
  abort: AbortController;
  until(pred: (events: ApiEvent[]) => boolean, what: string, ms?: number): Promise<void>;
}

async function startParty(name: string, dir: string, brokerUrl: string): Promise<Party> {
  const socket = join(dir, 'api.sock');
  const proc = await spawn(['daemon', '--data', dir, '--broker', brokerUrl, '--socket', socket], name);
  const client = connectMessenger({ socketPath: socket });
  clients.add(client);
  await client.waitForReady(20_000);
  const events: ApiEvent[] = [];
  const waiters = new Set<() => void>();
  const abort = new AbortController();
  aborts.add(abort);
  void (async () => {
    try {
      for await (const e of client.receive({ signal: abort.signal })) {
        events.push(e);
        for (const w of [...waiters]) w();
      }
    } catch {
      // the process was killed: the test restarts it
    }
  })();
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (events.some((e) => e.kind === 'caughtUp')) {
        waiters.delete(check);
        resolve();
      }
    };
    waiters.add(check);
    check();
  });
  return {
    dir,
    proc,
    userId: String(proc.ready['userId']),
    socket,
    client,
    events,
    abort,
    until(pred, what, ms = 120_000) {
      if (pred(events)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: timed out waiting for ${what}`)), ms);
        const check = (): void => {
          if (!pred(events)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
  };
}

const ctl = (socket: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> =>
  run(process.execPath, [BIN, 'ctl', '--socket', socket, ...args], { maxBuffer: 16 * 1024 * 1024 });

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const fileMessages = (events: ApiEvent[]) => events.flatMap((e) => (e.kind === 'message' && e.message.attachment !== undefined ? [e.message] : []));
describe('a file to a group end to end (real processes)', () => {
  it('ctl send-file --group: every member gets it once, with groupId, byte-identical; a repeated idempotency key sends nothing; the SDK sends to a group too', async () => {
    const broker = await startBroker(await tempDir());
    const [a, b, c] = [await startParty('a', await tempDir(), broker.url), await startParty('b', await tempDir(), broker.url), await startParty('c', await tempDir(), broker.url)];
    const group = JSON.parse((await ctl(a.socket, 'group', 'create', 'ci', b.userId, c.userId)).stdout) as { groupId: string };
    await Promise.all([b, c].map((m) => m.until((ev) => ev.some((e) => e.kind === 'groupChanged' && e.group.groupId === group.groupId), 'the group')));
    const data = randomFillSync(Buffer.alloc(1024 * 1024 + 12_345));
    const path = join(await tempDir(), 'artifact.tar');
    await writeFile(path, data);
    // Waits (no --detach) for both members: exit 0 means both stored and verified it.
    const sent = await ctl(a.socket, 'send-file', '--group', group.groupId, '--idempotency-key', 'build-7', path);
    const { messageId } = JSON.parse(sent.stdout) as { messageId: string };
    expect(sent.stderr).toMatch(/2\/2 members done/);
    for (const m of [b, c]) {
      await m.until((ev) => fileMessages(ev).length === 1, 'the file message', 60_000);
      const [msg] = fileMessages(m.events);
      expect(msg).toMatchObject({ messageId, from: a.userId, groupId: group.groupId, attachment: { fileName: 'artifact.tar', size: data.length } });
      expect(Buffer.from(msg!.attachment!.sha256).toString('hex')).toBe(sha256(data));
      const out = join(m.dir, 'got.tar');
      await ctl(m.socket, 'download', msg!.attachment!.attachmentId, '--out', out);
      expect((await readFile(out)).equals(data)).toBe(true);
    }
    // The same key again: the same message id, nothing sent (no second message anywhere).
    const again = JSON.parse((await ctl(a.socket, 'send-file', '--group', group.groupId, '--idempotency-key', 'build-7', '--detach', path)).stdout) as { messageId: string };
    expect(again.messageId).toBe(messageId);
    // The SDK: a bot on a's daemon sends a small file to the group.
    const bot = await connect({ socket: a.socket });
    try {
      const small = randomFillSync(Buffer.alloc(70_000));
      const viaBot = await bot.sendFileToGroup(group.groupId, { fileName: 'small.bin', data: small });
      for (const m of [b, c]) {
        await m.until((ev) => fileMessages(ev).some((x) => x.messageId === viaBot.messageId), 'the bot\'s file', 60_000);
        expect(fileMessages(m.events).find((x) => x.messageId === viaBot.messageId)).toMatchObject({ groupId: group.groupId, attachment: { fileName: 'small.bin', size: small.length } });
      }
    } finally {
      await bot.stop();
    }
    for (const m of [b, c]) expect(fileMessages(m.events).filter((x) => x.messageId === messageId)).toHaveLength(1);
  });
});
