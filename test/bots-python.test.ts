// The Python echo bot and file bot (Debian's python3-grpcio, stubs compiled from proto/ at run
// time) against the real gRPC server — first over a fake backend, then between two real daemons of
// the harness.
// Needs bots/python/install-deps.sh to have run (.ci/run installs the same packages).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from '../daemon/api/server.ts';
import { eventually, silentLogger, startTestApi, type TestApi } from '../daemon/api/test-server.ts';
import { startNetwork, type Network } from '../bots/harness/network.ts';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';
import { FileFakeBackend } from '../daemon/http/test-file-backend.ts';

const PYTHON = '/usr/bin/python3';
const ECHO_BOT = fileURLToPath(new URL('../bots/python/echo_bot.py', import.meta.url));

let api: TestApi | undefined;
let net: Network | undefined;
let bot: ReadyProcess | undefined;
let restarted: ApiServer | undefined;

afterEach(async () => {
  if (bot !== undefined) await stopProcess(bot, 2_000);
  await restarted?.close();
  await api?.cleanup();
  await net?.stop();
  api = undefined;
  net = undefined;
  bot = undefined;
  restarted = undefined;
});

function startPythonBot(socket: string): Promise<ReadyProcess> {
  return spawnReady(PYTHON, [ECHO_BOT, '--socket', socket], { name: 'python echo bot' });
}

const text = (body: Uint8Array): string => new TextDecoder().decode(body);

describe('Python echo bot', () => {
  it('answers a group message in its group (Send with group_id, no to)', async () => {
    api = await startTestApi();
    const backend = api.backend;
    bot = await startPythonBot(api.socketPath);
    const group = backend.addForeignGroup();
    backend.deliver(group.owner, 'hello group', 'text/plain', group.groupId);
    await eventually(() => backend.sent.length === 1);
    expect(backend.sent[0]).toMatchObject({ groupId: group.groupId });
    expect(backend.sent[0]?.to).toBeUndefined();
    expect(text(backend.sent[0]?.body ?? new Uint8Array())).toBe('hello group');
  });

  it('echoes over the Unix socket, answers /help, ignores its own messages, acks, and exits 0 on SIGTERM', async () => {
    api = await startTestApi();
    const backend = api.backend;
    bot = await startPythonBot(api.socketPath);
    expect(bot.ready).toEqual({ event: 'ready', bot: 'python-echo', userId: backend.identity.userId });
    const peer = backend.addPeer();
    backend.deliver(backend.identity.userId, 'my own');
    backend.deliver(peer, 'hello from node');
    backend.deliver(peer, new Uint8Array([1, 2, 3]), 'application/octet-stream');
    backend.deliver(peer, '/help');
    await eventually(() => backend.sent.length === 3);
    const [first, second, third] = backend.sent;
    expect(first?.to).toBe(peer);
    expect(text(first?.body ?? new Uint8Array())).toBe('hello from node');
    expect(first?.idempotencyKey).toMatch(/:python-echo$/);
    expect(second?.body).toEqual(new Uint8Array([1, 2, 3]));
    expect(second?.contentType).toBe('application/octet-stream');
    expect(text(third?.body ?? new Uint8Array())).toBe('Python echo bot: I send back every message you send me.');
    while ((await backend.getStatus()).inboxDepth !== 0) await new Promise((r) => setTimeout(r, 10));
    expect(backend.sent.every((s) => s.to === peer)).toBe(true);
    const exit = await stopProcess(bot);
    expect(exit).toEqual({ code: 0, signal: null, killed: false });
  });

  it('reconnects when the daemon restarts and answers what arrived meanwhile', async () => {
    api = await startTestApi();
    const backend = api.backend;
    bot = await startPythonBot(api.socketPath);
    const peer = backend.addPeer();
    backend.deliver(peer, 'before');
    await eventually(() => backend.sent.length === 1);
    await api.server.close();
    backend.deliver(peer, 'while the daemon was away');
    const again = createApiServer({ backend, socketPath: api.socketPath, logger: silentLogger });
    restarted = again;
    await again.start();
    await eventually(() => backend.sent.length === 2);
    expect(backend.sent.map((s) => text(s.body))).toEqual(['before', 'while the daemon was away']);
    expect(await stopProcess(bot)).toEqual({ code: 0, signal: null, killed: false });
  });

  it('answers a real daemon through the broker', async () => {
    net = await startNetwork({ daemons: 2 });
    const [alice, pythonSide] = net.daemons;
    if (alice === undefined || pythonSide === undefined) throw new Error('two daemons expected');
    await pythonSide.bot.stop(); // the Python bot is this daemon's only client
    bot = await startPythonBot(pythonSide.socket);
    expect(bot.ready['userId']).toBe(pythonSide.userId);
    await alice.bot.send(pythonSide.userId, 'ping from alice');
    const reply = await alice.bot.waitForMessage((m) => m.from === pythonSide.userId);
    expect(reply.text).toBe('ping from alice');
  });
});

const FILE_BOT = fileURLToPath(new URL('../bots/python/file_bot.py', import.meta.url));

describe('Python file bot', () => {
  const dirs: string[] = [];
  let server: ApiServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function fileApi(): Promise<{ backend: FileFakeBackend; socket: string; out: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'ratchetd-pyfiles-'));
    dirs.push(dir);
    const backend = new FileFakeBackend();
    const socket = join(dir, 'api.sock');
    server = createApiServer({ backend, socketPath: socket, logger: silentLogger });
    await server.start();
    return { backend, socket, out: join(dir, 'out') };
  }

  const hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

  it('downloads each file into --out-dir (verified, a name that is never a path), answers, then acks; a cut-off download resumes from the .part file', async () => {
    const { backend, socket, out } = await fileApi();
    const peer = backend.addPeer();
    const photo = randomBytes(300_001);
    const hostile = randomBytes(1000);
    const resumed = randomBytes(200_000);
    const m1 = backend.deliverFile(peer, photo, 'photo.jpg', 'image/jpeg');
    const m2 = backend.deliverFile(peer, hostile, '../../etc/passwd');
    // a download of m3 cut off earlier: its first 70,000 bytes are on disk already
    const m3 = backend.deliverFile(peer, resumed, 'log.txt');
    const id3 = m3.attachment?.attachmentId ?? '';
    await mkdir(out, { recursive: true });
    await writeFile(join(out, `${id3.slice(0, 8)}-log.txt.part`), resumed.subarray(0, 70_000));
    backend.deliver(peer, 'no file here');
    bot = await spawnReady(PYTHON, [FILE_BOT, '--socket', socket, '--out-dir', out], { name: 'python file bot' });
    expect(bot.ready).toEqual({ event: 'ready', bot: 'python-files', userId: backend.identity.userId });
    await eventually(() => backend.sent.length === 4 && backend.unacked().length === 0);

    const id1 = m1.attachment?.attachmentId ?? '';
    const id2 = m2.attachment?.attachmentId ?? '';
    expect(await readFile(join(out, `${id1.slice(0, 8)}-photo.jpg`))).toEqual(photo);
    expect(await readFile(join(out, `${id2.slice(0, 8)}-_.._etc_passwd`))).toEqual(hostile);
    expect(await readFile(join(out, `${id3.slice(0, 8)}-log.txt`))).toEqual(resumed);
    expect((await readdir(out)).sort()).toEqual([`${id1.slice(0, 8)}-photo.jpg`, `${id2.slice(0, 8)}-_.._etc_passwd`, `${id3.slice(0, 8)}-log.txt`].sort());
    expect(backend.downloads).toEqual([
      { attachmentId: id1, offset: 0 },
      { attachmentId: id2, offset: 0 },
      { attachmentId: id3, offset: 70_000 },
    ]);
    expect(backend.sent.map((s) => text(s.body))).toEqual([
      `saved ${id1.slice(0, 8)}-photo.jpg (300001 bytes, sha256 ${hex(photo)})`,
      `saved ${id2.slice(0, 8)}-_.._etc_passwd (1000 bytes, sha256 ${hex(hostile)})`,
      `saved ${id3.slice(0, 8)}-log.txt (200000 bytes, sha256 ${hex(resumed)})`,
      'Python file bot: send me a file and I save it.',
    ]);
    expect(backend.sent.every((s) => s.to === peer && s.replyTo !== undefined)).toBe(true);
    expect(await stopProcess(bot)).toEqual({ code: 0, signal: null, killed: false });
  });

  it('receives a file from a real daemon through the broker and saves it byte-identical', async () => {
    net = await startNetwork({ daemons: 2 });
    const [alice, pythonSide] = net.daemons;
    if (alice === undefined || pythonSide === undefined) throw new Error('two daemons expected');
    await pythonSide.bot.stop(); // the Python bot is this daemon's only client
    const out = await mkdtemp(join(tmpdir(), 'ratchetd-pyfiles-'));
    dirs.push(out);
    bot = await spawnReady(PYTHON, [FILE_BOT, '--socket', pythonSide.socket, '--out-dir', out], { name: 'python file bot' });
    const data = randomBytes(1024 * 1024 + 7);
    await alice.bot.sendFile(pythonSide.userId, { fileName: 'report.bin', data });
    const reply = await alice.bot.waitForMessage((m) => m.from === pythonSide.userId, { timeoutMs: 60_000 });
    const match = /^saved (\S+) \(1048583 bytes, sha256 ([0-9a-f]{64})\)$/.exec(reply.text ?? '');
    expect(match?.[2]).toBe(hex(data));
    expect(await readFile(join(out, match?.[1] ?? 'missing'))).toEqual(data);
  });
});
