/**
 * The HTTP API and the webhook on real processes: `ratchetd broker` and `ratchetd daemon --http
 * --webhook` started from bin/ratchetd.mjs on free ports in temp dirs, driven with fetch like a
 * shell script with curl would, and a webhook receiver in this process.
 */
import { createServer } from 'node:http';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectMessenger } from '../daemon/api/client.ts';
import { runCli } from '../daemon/cli/spawn-cli.ts';
import { verifyWebhookSignature } from '../daemon/http/webhook-signature.ts';
import { processParties } from './fixtures/process-parties.ts';
import type { ReadyProcess } from '../bots/harness/process.ts';

const { tempDir, spawn, startBroker: startBrokerIn, kill9, defer, closeAfterTest } = processParties('http');

interface HttpDaemon {
  proc: ReadyProcess;
  userId: string;
  url: string;
  token: string;
  dir: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }>;
}

async function startDaemon(root: string, name: string, brokerUrl: string, extra: string[] = []): Promise<HttpDaemon> {
  const dir = join(root, name);
  const proc = await spawn(['daemon', '--data', dir, '--broker', brokerUrl, '--socket', join(dir, 'api.sock'), '--http', '127.0.0.1:0', ...extra], name);
  const url = String(proc.ready['http']);
  const token = (await readFile(join(dir, 'http.token'), 'utf8')).trim();
  const call: HttpDaemon['call'] = async (method, path, body, headers = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  };
  return { proc, userId: String(proc.ready['userId']), url, token, dir, call };
}

async function startBroker(root: string): Promise<string> {
  return (await startBrokerIn(join(root, 'broker'))).url;
}

interface Hook {
  body: string;
  json: { messageId: string; from: string; text?: string };
  signature?: string;
  timestamp?: string;
  status: number;
}

interface HookReceiver {
  url: string;
  hooks: Hook[];
  /** Resolves once `n` requests were answered 2xx. */
  until(n: number): Promise<void>;
  /** Resolves once `n` requests arrived, whatever the answer. */
  requests(n: number): Promise<void>;
}

async function receiver(answer: (n: number) => number): Promise<HookReceiver> {
  const hooks: Hook[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const status = answer(hooks.length);
      hooks.push({ body, json: JSON.parse(body) as Hook['json'], signature: req.headers['ratchetd-signature'] as string, timestamp: req.headers['ratchetd-timestamp'] as string, status });
      res.writeHead(status).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  closeAfterTest(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    hooks,
    async until(n) {
      while (hooks.filter((h) => h.status < 300).length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    async requests(n) {
      while (hooks.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

describe('HTTP API on a real daemon', () => {
  it('sends, long-polls, streams, acks and reports like the gRPC API; refuses bad requests and goes on', async () => {
    const root = await tempDir();
    const brokerUrl = await startBroker(root);
    const alice = await startDaemon(root, 'alice', brokerUrl);
    const bob = await startDaemon(root, 'bob', brokerUrl);
    expect(alice.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await stat(join(alice.dir, 'http.token'))).mode & 0o777).toBe(0o600);

    const identity = await alice.call('GET', '/v1/identity');
    expect(identity).toMatchObject({ status: 200, json: { userId: alice.userId } });

    // bob's long poll waits; alice's message ends it
    const poll = bob.call('GET', '/v1/messages?wait=60');
    const sent = await alice.call('POST', '/v1/messages', { to: bob.userId, text: 'hello over HTTP', idempotencyKey: 'k-1' });
    expect(sent.status).toBe(200);
    const polled = await poll;
    expect(polled.json['messages']).toMatchObject([{ messageId: sent.json['messageId'], from: alice.userId, text: 'hello over HTTP', groupId: '' }]);
    const first = (polled.json['messages'] as Array<{ messageId: string; cursor: number }>)[0]!;

    // the event stream replays it; a second message arrives live
    const sse = await fetch(`${bob.url}/v1/events`, { headers: { authorization: `Bearer ${bob.token}` } });
    const reader = sse.body!.getReader();
    let buffered = '';
    const nextEvent = async (): Promise<Record<string, unknown>> => {
      while (!buffered.includes('\n\n')) buffered += new TextDecoder().decode((await reader.read()).value);
      const [block, ...rest] = buffered.split('\n\n');
      buffered = rest.join('\n\n');
      return JSON.parse((block ?? '').split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as Record<string, unknown>;
    };
    expect(await nextEvent()).toMatchObject({ type: 'message', message: { messageId: first.messageId } });
    expect(await nextEvent()).toMatchObject({ type: 'caughtUp' });
    await alice.call('POST', '/v1/messages', { to: bob.userId, bodyBase64: Buffer.from([1, 2, 3]).toString('base64'), contentType: 'application/octet-stream' });
    const live = await nextEvent();
    expect(live).toMatchObject({ type: 'message', message: { bodyBase64: 'AQID', contentType: 'application/octet-stream' } });
    await reader.cancel();

    // ack the first: a poll from the start offers the second only
    expect((await bob.call('POST', '/v1/ack', { messageIds: [first.messageId] })).status).toBe(200);
    expect((await bob.call('GET', '/v1/messages')).json['messages']).toMatchObject([{ messageId: (live['message'] as { messageId: string }).messageId }]);

    // contacts and status match the gRPC API's
    const client = connectMessenger({ socketPath: join(bob.dir, 'api.sock') });
    defer(async () => client.close());
    const grpcStatus = await client.getStatus();
    const httpStatus = (await bob.call('GET', '/v1/status')).json;
    expect(Object.keys(httpStatus).sort()).toEqual(Object.keys(grpcStatus).sort());
    expect(httpStatus).toMatchObject({ brokerConnected: true, inboxDepth: 1, contacts: 1 });
    const contacts = (await bob.call('GET', '/v1/contacts')).json['contacts'] as Array<{ userId: string; safetyNumber: string }>;
    expect(contacts.map((c) => c.userId)).toEqual((await client.listContacts()).map((c) => c.userId));
    expect((await bob.call('POST', `/v1/contacts/${alice.userId}/verify`, { safetyNumber: contacts[0]!.safetyNumber })).json['contact']).toMatchObject({ trust: 'verified' });

    // bad requests: clear 4xx, and the daemon goes on
    expect((await bob.call('GET', '/v1/status', undefined, { authorization: '' })).status).toBe(401);
    expect((await bob.call('GET', '/v1/status', undefined, { authorization: 'Bearer not-the-token-at-all' })).status).toBe(401);
    expect((await bob.call('POST', '/v1/messages', JSON.stringify({ to: alice.userId, text: 'x'.repeat(1024 * 1024) }))).status).toBe(413);
    expect((await bob.call('POST', '/v1/messages', '{"to":')).json).toMatchObject({ code: 'INVALID_ARGUMENT', errorCode: 'MalformedJson' });
    expect((await bob.call('POST', '/v1/messages', { to: 'nobody', text: 'hi' })).status).toBe(400);
    expect((await bob.call('POST', '/v1/messages', { to: alice.userId, text: 'still here' })).status).toBe(200);
    expect(bob.proc.child.exitCode).toBeNull();
  });

  it('a webhook gets every message once, signed, in order, across a receiver outage and a daemon SIGKILL; ctl acks are refused', async () => {
    const root = await tempDir();
    const brokerUrl = await startBroker(root);
    const secretFile = join(root, 'webhook.secret');
    await writeFile(secretFile, 'process-test-webhook-secret\n', { mode: 0o600 });
    let down = true;
    const hook = await receiver(() => (down ? 503 : 200));
    const alice = await startDaemon(root, 'alice', brokerUrl);
    const bobArgs = ['--webhook', hook.url, '--webhook-secret-file', secretFile];
    let bob = await startDaemon(root, 'bob', brokerUrl, bobArgs);
    for (const t of ['w1', 'w2', 'w3']) expect((await alice.call('POST', '/v1/messages', { to: bob.userId, text: t })).status).toBe(200);
    await hook.requests(1); // refused: the receiver is down

    // API clients read but do not ack: the webhook owns acks
    const peek = await runCli(['ctl', '--socket', join(bob.dir, 'api.sock'), 'receive', '--peek']);
    expect(peek.code).toBe(0);
    expect(peek.stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { text: string }).text)).toEqual(['w1', 'w2', 'w3']);
    const ackTry = await runCli(['ctl', '--socket', join(bob.dir, 'api.sock'), 'receive']);
    expect(ackTry.code).toBe(1);
    expect(ackTry.stderr).toContain('FAILED_PRECONDITION');
    expect((await bob.call('GET', '/v1/status')).json).toMatchObject({ inboxDepth: 3, webhookPending: 3, deadLetters: 0 });

    // the daemon dies while the receiver is down; nothing is lost
    await kill9(bob.proc);
    down = false;
    bob = await startDaemon(root, 'bob', brokerUrl, bobArgs);
    await hook.until(3);
    const delivered = hook.hooks.filter((h) => h.status === 200);
    expect(delivered.map((h) => h.json.text)).toEqual(['w1', 'w2', 'w3']);
    const secret = new TextEncoder().encode('process-test-webhook-secret');
    for (const h of hook.hooks) expect(verifyWebhookSignature(secret, h.signature, h.timestamp, h.body, { nowSeconds: Date.now() / 1000 })).toBe(true);
    // a later message follows, once
    await alice.call('POST', '/v1/messages', { to: bob.userId, text: 'w4' });
    await hook.until(4);
    expect(hook.hooks.filter((h) => h.status === 200).map((h) => h.json.text)).toEqual(['w1', 'w2', 'w3', 'w4']);
    // w4 was posted only once w3 was acked: w1..w3 are gone from the inbox
    const left = (await bob.call('GET', '/v1/messages')).json['messages'] as Array<{ text: string }>;
    expect(left.map((m) => m.text).filter((t) => t !== 'w4')).toEqual([]);
  });
});
