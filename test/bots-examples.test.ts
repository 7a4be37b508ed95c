// The example bots as real processes (as `npm run bot:<name>` starts them) against the real gRPC
// server over a Unix socket, with the in-memory fake backend standing in for the daemon engine.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, startTestApi, type TestApi } from '../daemon/api/test-server.ts';
import type { UserId } from '../core/user-id.ts';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';

const example = (name: string): string => fileURLToPath(new URL(`../bots/examples/${name}.ts`, import.meta.url));

let api: TestApi;
let running: ReadyProcess[];

beforeEach(async () => {
  api = await startTestApi();
  running = [];
});

afterEach(async () => {
  await Promise.all(running.map((p) => stopProcess(p, 2_000)));
  await api.cleanup();
});

async function startBot(name: string, args: string[] = []): Promise<ReadyProcess> {
  const bot = await spawnReady(process.execPath, ['--import', 'tsx', example(name), '--socket', api.socketPath, '--log-level', 'warn', ...args], { name });
  running.push(bot);
  return bot;
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runToEnd(name: string, args: string[], input = ''): { finished: Promise<Finished> } {
  const child = spawn(process.execPath, ['--import', 'tsx', example(name), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RATCHETD_SOCKET: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(input);
  return { finished: new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr }))) };
}

const text = (body: Uint8Array): string => new TextDecoder().decode(body);
const sentTo = (peer: UserId): string[] => api.backend.sent.filter((s) => s.to === peer).map((s) => text(s.body));

/**
 * Waits until `peer` has been sent at least `n` messages. "At least", never "exactly": a bot that
 * keeps sending (the iot readings) may be past n by the time this looks, and an exact count would
 * then never hold. Bounded, so a failure says what was sent instead of hitting the test timeout.
 */
async function sentAtLeast(peer: UserId, n: number, timeoutMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  while (sentTo(peer).length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} messages to ${peer}; sent: ${JSON.stringify(sentTo(peer))}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return sentTo(peer);
}

async function verify(peer: UserId): Promise<void> {
  const contact = (await api.client.listContacts()).find((c) => c.userId === peer);
  await api.client.verifyContact(peer, contact?.safetyNumber ?? '');
}

describe('echo', () => {
  it('prints a ready line, echoes text and bytes with their content type, answers /help, exits 0 on SIGTERM', async () => {
    const bot = await startBot('echo');
    expect(bot.ready).toEqual({ event: 'ready', bot: 'echo', userId: api.backend.identity.userId });
    const peer = api.backend.addPeer();
    api.backend.deliver(peer, 'hello there');
    api.backend.deliver(peer, new Uint8Array([0, 255, 7]), 'application/octet-stream');
    api.backend.deliver(peer, '/help');
    await eventually(() => sentTo(peer).length === 3);
    const [first, second, third] = api.backend.sent;
    expect(text(first?.body ?? new Uint8Array())).toBe('hello there');
    expect(first?.contentType).toBe('text/plain; charset=utf-8');
    expect(second?.body).toEqual(new Uint8Array([0, 255, 7]));
    expect(second?.contentType).toBe('application/octet-stream');
    expect(text(third?.body ?? new Uint8Array())).toMatch(/^Echo bot: I send back every message you send me\.\n\nCommands:\n\/help/);
    const result = await stopProcess(bot);
    expect(result).toEqual({ code: 0, signal: null, killed: false });
    expect((await api.backend.getStatus()).inboxDepth).toBe(0);
  });

  it('exits 1 with one line when the daemon is not there, 2 on a bad flag', async () => {
    const missing = await runToEnd('echo', ['--socket', `${api.dir}/nothing.sock`, '--connect-timeout', '0.3']).finished;
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/cannot reach the daemon/);
    const bad = await runToEnd('echo', ['--socket', api.socketPath, '--bogus']).finished;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--bogus.*see --help/);
  });
});

describe('dice (the README bot)', () => {
  it('rolls, refuses bad arguments with the usage, guards the verified-only command, answers other text', async () => {
    await startBot('dice');
    const peer = api.backend.addPeer();
    for (const t of ['/roll 20', '/roll 1', '/secret', 'hi']) api.backend.deliver(peer, t);
    await eventually(() => sentTo(peer).length === 4);
    const [roll, bad, secret, other] = sentTo(peer);
    const rolled = Number(/^You rolled (\d+) \(d20\)\.$/.exec(roll ?? '')?.[1]);
    expect(rolled >= 1 && rolled <= 20).toBe(true);
    expect(bad).toBe('Sides must be a whole number of at least 2.\nUsage: /roll [sides]');
    expect(secret).toMatch(/^Only verified contacts may use \/secret/);
    expect(other).toBe('You said "hi". Try /roll or /help.');
  });
});

describe('iot', () => {
  it('obeys only verified contacts and sends readings only to verified subscribers', async () => {
    await startBot('iot', ['--interval', '0.05', '--device', 'greenhouse']);
    const friend = api.backend.addPeer();
    const stranger = api.backend.addPeer();
    api.backend.deliver(friend, '/subscribe');
    await sentAtLeast(friend, 1);
    expect(sentTo(friend)).toHaveLength(1);
    expect(sentTo(friend)[0]).toMatch(/^Only verified contacts may use \/subscribe/);

    await verify(friend);
    api.backend.deliver(friend, '/subscribe');
    // Readings follow the reply every 50 ms: a loaded machine may look only after the first ones.
    await sentAtLeast(friend, 2);
    expect(sentTo(friend)[1]).toMatch(/^Subscribed: a reading every 0\.05 s\. Now: greenhouse: -?\d+\.\d °C, \d+ % RH at /);

    api.backend.deliver(stranger, '/subscribe');
    api.backend.deliver(stranger, '/set interval 1');
    await sentAtLeast(stranger, 2);
    const readingsBefore = sentTo(friend).length;
    await sentAtLeast(friend, readingsBefore + 3);
    expect(sentTo(friend).slice(2).every((r) => /^greenhouse: -?\d+\.\d °C, \d+ % RH at \d{4}-/.test(r))).toBe(true);
    expect(sentTo(stranger)).toHaveLength(2);
    expect(sentTo(stranger).every((r) => r.startsWith('Only verified contacts may use'))).toBe(true);
  });

  it('changes the interval, refuses bad settings with the usage, and unsubscribes', async () => {
    await startBot('iot', ['--interval', '3600']);
    const friend = api.backend.addPeer();
    api.backend.deliver(friend, 'hello');
    await sentAtLeast(friend, 1);
    expect(sentTo(friend)).toEqual(['I only understand commands. Send /help for the list.']);
    await verify(friend);
    for (const command of ['/set interval 0.5', '/set colour blue', '/set interval 5', '/subscribe', '/unsubscribe', '/help']) api.backend.deliver(friend, command);
    await sentAtLeast(friend, 7);
    expect(sentTo(friend)).toHaveLength(7); // no reading: the first one was an hour away
    const [, tooSmall, unknown, set, subscribed, unsubscribed, help] = sentTo(friend);
    expect(tooSmall).toBe('The interval is 1 to 86400 seconds.\nUsage: /set interval <seconds>');
    expect(unknown).toBe('The only setting is the interval.\nUsage: /set interval <seconds>');
    expect(set).toBe('Interval set to 5 s.');
    expect(subscribed).toMatch(/^Subscribed: a reading every 5 s\./);
    expect(unsubscribed).toBe('Unsubscribed.');
    expect(help).toContain('/subscribe — get a reading every interval (verified contacts only)');
  });
});

describe('ci-notify', () => {
  it('sends the text and exits 0; the idempotency key is passed on', async () => {
    const peer = api.backend.addPeer();
    const run = await runToEnd('ci-notify', ['--socket', api.socketPath, '--log-level', 'silent', '--to', peer, '--idempotency-key', 'job-42', 'build', '1234', 'passed']).finished;
    expect(run).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(api.backend.sent).toHaveLength(1);
    expect(text(api.backend.sent[0]?.body ?? new Uint8Array())).toBe('build 1234 passed');
    expect(api.backend.sent[0]?.idempotencyKey).toBe('job-42');
  });

  it('reads the text from stdin when none is given', async () => {
    const peer = api.backend.addPeer();
    const run = await runToEnd('ci-notify', ['--socket', api.socketPath, '--log-level', 'silent', '--to', peer], 'from a pipe\n').finished;
    expect(run.code).toBe(0);
    expect(sentTo(peer)).toEqual(['from a pipe\n']);
  });

  it('--wait-reply prints the reply from that user, ignoring older messages and other senders, and acks only the reply', async () => {
    const peer = api.backend.addPeer();
    const other = api.backend.addPeer();
    api.backend.deliver(peer, 'an old message');
    const run = runToEnd('ci-notify', ['--socket', api.socketPath, '--log-level', 'silent', '--to', peer, '--wait-reply', '--timeout', '60', 'deploy?']);
    await eventually(() => api.backend.sent.length === 1);
    api.backend.deliver(other, 'not the reply');
    api.backend.deliver(peer, 'yes, go');
    const finished = await run.finished;
    expect(finished).toEqual({ code: 0, stdout: 'yes, go\n', stderr: '' });
    expect((await api.backend.getStatus()).inboxDepth).toBe(2);
  });

  it('exits 124 when no reply comes in time', async () => {
    const peer = api.backend.addPeer();
    const run = await runToEnd('ci-notify', ['--socket', api.socketPath, '--log-level', 'silent', '--to', peer, '--wait-reply', '--timeout', '0.2', 'anyone?']).finished;
    expect(run.code).toBe(124);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`no reply from ${peer} within 0.2 s\n`);
  });

  it('exits 1 when the daemon refuses the send, 2 on usage mistakes', async () => {
    const unknown = 'a'.repeat(32);
    const refused = await runToEnd('ci-notify', ['--socket', api.socketPath, '--log-level', 'silent', '--to', unknown, 'hi']).finished;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^NOT_FOUND: /);
    const noTo = await runToEnd('ci-notify', ['--socket', api.socketPath, 'hi']).finished;
    expect(noTo.code).toBe(2);
    expect(noTo.stderr).toMatch(/--to USER is required/);
    const noSocket = await runToEnd('ci-notify', ['--to', unknown, 'hi']).finished;
    expect(noSocket.code).toBe(2);
  });
});
