// The Python echo bot (Debian's python3-grpcio, stubs compiled from proto/ at run time) against
// the real gRPC server — first over the fake backend, then between two real daemons of the harness.
// Needs bots/python/install-deps.sh to have run (.ci/run installs the same packages).
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from '../daemon/api/server.ts';
import { eventually, silentLogger, startTestApi, type TestApi } from '../daemon/api/test-server.ts';
import { startNetwork, type Network } from '../bots/harness/network.ts';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';

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
