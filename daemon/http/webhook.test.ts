/**
 * The webhook against a real HTTP receiver on loopback, fed by daemons of the engine (in-memory
 * stores that survive restarts, the in-process relay). The retry schedule runs on a manual clock:
 * each retry fires when the test advances the clock past it, so an hour of retries takes no hour.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../api/manual-clock.ts';
import { createApiServer, type ApiServer } from '../api/server.ts';
import { ApiCallError, connectMessenger } from '../api/client.ts';
import { createTestNet, restartTestDaemon, startTestDaemon, silentLogger, text, type TestDaemon, type TestNet } from '../engine/test-support.ts';
import type { DaemonApi } from '../engine/types.ts';
import { openSse, startTestHttp } from './test-support.ts';
import { webhookOwnedApi } from './webhook-backend.ts';
import { createWebhookDelivery, type WebhookAttempt, type WebhookDelivery } from './webhook-delivery.ts';
import { DEFAULT_RETRY_POLICY, retryDelayMs } from './webhook-policy.ts';
import { readWebhookSecret, signWebhook, verifyWebhookSignature } from './webhook-signature.ts';

const SECRET = new TextEncoder().encode('webhook-test-secret-0123456789');

interface Received {
  body: string;
  json: { messageId: string; from: string; text?: string; cursor: number };
  signature: string | undefined;
  timestamp: string | undefined;
  status: number;
}

/** A webhook receiver whose answer the test sets; it records every request and wakes waiters. */
class Receiver {
  readonly requests: Received[] = [];
  answer: (r: Received) => number = () => 200;
  onRequest: (r: Received) => void = () => undefined;
  url = '';
  private server: Server | undefined;
  private waiters: Array<() => void> = [];

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        const r: Received = {
          body,
          json: JSON.parse(body) as Received['json'],
          signature: req.headers['ratchetd-signature'] as string | undefined,
          timestamp: req.headers['ratchetd-timestamp'] as string | undefined,
          status: 0,
        };
        r.status = this.answer(r);
        this.onRequest(r);
        this.requests.push(r);
        res.writeHead(r.status).end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${address.port}/hook`;
  }

  /** Resolves once `pred` holds over the requests received so far. */
  async until(pred: (rs: Received[]) => boolean): Promise<void> {
    while (!pred(this.requests)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  delivered(): Received[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** Every attempt's outcome, in order; waiters wake on each. */
class AttemptLog {
  readonly all: WebhookAttempt[] = [];
  private waiters: Array<() => void> = [];
  readonly push = (a: WebhookAttempt): void => {
    this.all.push(a);
    for (const w of this.waiters.splice(0)) w();
  };
  count(outcome: WebhookAttempt['outcome']): number {
    return this.all.filter((a) => a.outcome === outcome).length;
  }
  async until(pred: (log: AttemptLog) => boolean): Promise<void> {
    while (!pred(this)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

let net: TestNet;
let receiver: Receiver;
let clock: ManualClock;
let attempts: AttemptLog;
const started: Array<{ close(): Promise<void> }> = [];

beforeEach(async () => {
  net = await createTestNet();
  receiver = new Receiver();
  await receiver.start();
  clock = new ManualClock();
  attempts = new AttemptLog();
});
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.close();
  await receiver.stop();
});

async function daemon(): Promise<TestDaemon> {
  const d = await startTestDaemon(net, { subscribeAfter: false });
  started.push({ close: () => d.daemon.close() });
  return d;
}

function webhook(api: DaemonApi, maxQueued?: number): WebhookDelivery {
  const delivery = createWebhookDelivery(api, {
    url: receiver.url,
    secret: SECRET,
    logger: silentLogger,
    timers: clock,
    random: () => 0.5, // jitter factor 1: the delays are exactly 1 s, 2 s, 4 s, …
    onAttempt: attempts.push,
    ...(maxQueued === undefined ? {} : { maxQueued }),
  });
  started.push(delivery);
  return delivery;
}

/**
 * Moves the clock from one scheduled retry to the next (the webhook's only timers while it runs)
 * until `done` resolves: an hour of retries in a few hundred milliseconds.
 */
async function retryUntil(done: Promise<void>): Promise<void> {
  const finished = done.then(() => undefined);
  for (;;) {
    const next = await Promise.race([clock.whenScheduled(() => true), finished]);
    if (next === undefined) return;
    clock.advance(next.due - clock.now());
  }
}

const textsOf = (rs: Received[], from: string): string[] => rs.filter((r) => r.json.from === from).map((r) => r.json.text ?? '');

describe('webhook delivery', () => {
  it('a receiver down for a while, then answering 2xx, gets every message once, in order per sender, each signed', async () => {
    const [alice, carol, bob] = [await daemon(), await daemon(), await daemon()];
    let up = false;
    receiver.answer = () => (up ? 204 : 503);
    const delivery = webhook(bob.daemon.backend);
    await delivery.start();
    for (const t of ['a1', 'a2', 'a3']) await alice.daemon.backend.send({ to: bob.userId, body: text(t) });
    for (const t of ['c1', 'c2']) await carol.daemon.backend.send({ to: bob.userId, body: text(t) });

    // Each sender's first message is tried, refused, and retried after ~1 s, then ~2 s: backoff.
    await attempts.until((l) => l.count('retry') === 2);
    expect(attempts.all.map((a) => [a.attempt, a.error, a.retryInMs])).toEqual([[1, 'HTTP 503', 1_000], [1, 'HTTP 503', 1_000]]);
    clock.advance(1_000);
    await attempts.until((l) => l.count('retry') === 4);
    expect(attempts.all.slice(2).map((a) => [a.attempt, a.retryInMs])).toEqual([[2, 2_000], [2, 2_000]]);
    expect(receiver.requests.map((r) => r.json.text).sort()).toEqual(['a1', 'a1', 'c1', 'c1']); // the heads only: order holds
    up = true;
    clock.advance(2_000);
    await receiver.until(() => receiver.delivered().length === 5);
    await attempts.until((l) => l.count('delivered') === 5);

    const delivered = receiver.delivered();
    expect(textsOf(delivered, alice.userId)).toEqual(['a1', 'a2', 'a3']);
    expect(textsOf(delivered, carol.userId)).toEqual(['c1', 'c2']);
    expect(new Set(delivered.map((r) => r.json.messageId)).size).toBe(5);
    for (const r of receiver.requests) {
      expect(r.signature).toBe(signWebhook(SECRET, r.timestamp ?? '', r.body));
      expect(verifyWebhookSignature(SECRET, r.signature, r.timestamp, r.body, { nowSeconds: clock.now() / 1000 })).toBe(true);
    }
    // Acked: nothing left in bob's inbox, and nothing is posted again however long we wait.
    await expect(bob.daemon.backend.getStatus()).resolves.toMatchObject({ inboxDepth: 0, deadLetters: 0 });
    expect(delivery.queued).toBe(0);
    const before = receiver.requests.length;
    clock.advance(2 * 3600_000);
    await alice.daemon.backend.send({ to: bob.userId, body: text('a4') }); // a later message still goes out
    await receiver.until(() => receiver.delivered().length === 6);
    expect(receiver.requests.slice(before).map((r) => r.json.text)).toEqual(['a4']);
  });

  it('a receiver that always fails ends in dead letters (kept across a restart) that a re-drive delivers', async () => {
    const [alice, carol] = [await daemon(), await daemon()];
    let bob = await daemon();
    receiver.answer = () => 500;
    let delivery = webhook(bob.daemon.backend);
    let api = webhookOwnedApi(bob.daemon.backend, delivery);
    await delivery.start();
    await alice.daemon.backend.send({ to: bob.userId, body: text('m1') });
    await alice.daemon.backend.send({ to: bob.userId, body: text('m2') });
    await carol.daemon.backend.send({ to: bob.userId, body: text('c1') });
    const firstAttempt = clock.now();
    // Retry until the webhook gives up on all three (m2 starts its own hour when m1 is given up).
    await retryUntil(attempts.until((l) => l.count('dead') === 3));
    const { deadLetters, total } = await api.listDeadLetters(100);
    expect(total).toBe(3);
    const m1 = deadLetters.find((d) => d.from === alice.userId && d.cursor === Math.min(...deadLetters.filter((x) => x.from === alice.userId).map((x) => x.cursor)));
    expect(m1).toMatchObject({ lastError: 'HTTP 500', firstAttemptAt: firstAttempt });
    for (const d of deadLetters) {
      expect(d.deadAt - d.firstAttemptAt).toBeGreaterThanOrEqual(DEFAULT_RETRY_POLICY.budgetMs);
      expect(d.attempts).toBeGreaterThan(10);
    }
    expect(await api.getStatus()).toMatchObject({ inboxDepth: 3, deadLetters: 3, webhookPending: 0 });
    expect(clock.pending()).toEqual([]); // nothing is retried any more
    const attemptsBefore = receiver.requests.length;

    // Restart: the dead letters are still dead letters — alice's next message goes out, not m1.
    await delivery.close();
    bob = await restartTestDaemon(net, bob, { subscribeAfter: false });
    started.push({ close: () => bob.daemon.close() });
    delivery = webhook(bob.daemon.backend);
    api = webhookOwnedApi(bob.daemon.backend, delivery);
    await delivery.start();
    expect((await api.listDeadLetters(100)).total).toBe(3);
    receiver.answer = () => 200;
    await alice.daemon.backend.send({ to: bob.userId, body: text('m3') });
    await receiver.until(() => receiver.delivered().length === 1);
    expect(receiver.requests.slice(attemptsBefore).map((r) => r.json.text)).toEqual(['m3']);

    // The re-drive delivers them, in order per sender.
    expect((await api.redriveDeadLetters([])).length).toBe(3);
    await attempts.until((l) => l.count('delivered') === 4);
    expect(textsOf(receiver.delivered(), alice.userId)).toEqual(['m3', 'm1', 'm2']);
    expect(textsOf(receiver.delivered(), carol.userId)).toEqual(['c1']);
    expect(await api.getStatus()).toMatchObject({ inboxDepth: 0, deadLetters: 0, webhookPending: 0 });
  });

  it('messages not yet delivered when the daemon stops are delivered after its restart, each once', async () => {
    const alice = await daemon();
    let bob = await daemon();
    receiver.answer = () => 503;
    let delivery = webhook(bob.daemon.backend);
    await delivery.start();
    for (const t of ['x1', 'x2', 'x3']) await alice.daemon.backend.send({ to: bob.userId, body: text(t) });
    await receiver.until((rs) => rs.length >= 1);
    await delivery.close();
    bob = await restartTestDaemon(net, bob, { subscribeAfter: false });
    started.push({ close: () => bob.daemon.close() });
    receiver.answer = () => 200;
    delivery = webhook(bob.daemon.backend);
    await delivery.start();
    await attempts.until((l) => l.count('delivered') === 3);
    expect(receiver.delivered().map((r) => r.json.text)).toEqual(['x1', 'x2', 'x3']);
    await expect(bob.daemon.backend.getStatus()).resolves.toMatchObject({ inboxDepth: 0 });
  });

  it('reads ahead at most maxQueued messages; the rest wait in the inbox and all arrive in order', async () => {
    const [alice, bob] = [await daemon(), await daemon()];
    const delivery = webhook(bob.daemon.backend, 2);
    let mostQueued = 0;
    receiver.onRequest = () => (mostQueued = Math.max(mostQueued, delivery.queued));
    const sent = Array.from({ length: 12 }, (_, i) => `n${i}`);
    for (const t of sent) await alice.daemon.backend.send({ to: bob.userId, body: text(t) });
    await delivery.start(); // a replay of 12 stored messages
    await receiver.until(() => receiver.delivered().length === 6);
    for (const t of sent.slice(0, 6)) await alice.daemon.backend.send({ to: bob.userId, body: text(`live-${t}`) }); // and live ones
    await receiver.until(() => receiver.delivered().length === 18);
    expect(receiver.delivered().map((r) => r.json.text)).toEqual([...sent, ...sent.slice(0, 6).map((t) => `live-${t}`)]);
    expect(mostQueued).toBeLessThanOrEqual(2);
  });
});

describe('webhook and API clients', () => {
  let bob: TestDaemon;
  let alice: TestDaemon;
  let dir: string;
  let grpc: ApiServer | undefined;
  beforeEach(async () => {
    [alice, bob] = [await daemon(), await daemon()];
    dir = await mkdtemp(join(tmpdir(), 'ratchetd-webhook-'));
  });
  afterEach(async () => {
    await grpc?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('with a webhook, Receive/HTTP clients see messages but may not ack them; the webhook acks', async () => {
    receiver.answer = () => 200;
    const delivery = webhook(bob.daemon.backend);
    const api = webhookOwnedApi(bob.daemon.backend, delivery);
    grpc = createApiServer({ backend: api, socketPath: join(dir, 'api.sock'), logger: silentLogger });
    await grpc.start();
    const http = await startTestHttp({ backend: api });
    started.push(http);
    const client = connectMessenger({ socketPath: join(dir, 'api.sock') });
    started.push({ close: async () => client.close() });

    await alice.daemon.backend.send({ to: bob.userId, body: text('seen by all') });
    const sse = await openSse(http.url, '/v1/events');
    const event = await sse.next();
    expect(event.data).toMatchObject({ type: 'message', message: { text: 'seen by all' } });
    const id = (event.data['message'] as { messageId: string }).messageId;
    sse.close();
    const polled = await http.call('GET', '/v1/messages');
    expect(polled.json['messages']).toMatchObject([{ messageId: id }]);

    const refusedHttp = await http.call('POST', '/v1/ack', { messageIds: [id] });
    expect([refusedHttp.status, refusedHttp.json['code'], refusedHttp.json['errorCode']]).toEqual([412, 'FAILED_PRECONDITION', 'AckOwnedByWebhook']);
    const refusedGrpc = await client.ack([id]).catch((e: unknown) => e);
    expect(refusedGrpc).toBeInstanceOf(ApiCallError);
    expect([(refusedGrpc as ApiCallError).statusName, (refusedGrpc as ApiCallError).errorCode]).toEqual(['FAILED_PRECONDITION', 'AckOwnedByWebhook']);
    expect((await api.getStatus()).inboxDepth).toBe(1); // still there: no client acked it

    await delivery.start();
    await attempts.until((l) => l.count('delivered') === 1);
    expect(receiver.delivered().map((r) => r.json.messageId)).toEqual([id]);
    expect((await api.getStatus()).inboxDepth).toBe(0); // the webhook acked it
  });
});

describe('webhook parts', () => {
  it('backoff starts near a second, doubles, is capped at five minutes, with ±20% jitter', () => {
    const mid = [1, 2, 3, 4, 5, 9, 10, 30].map((n) => retryDelayMs(DEFAULT_RETRY_POLICY, n, () => 0.5));
    expect(mid).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 256_000, 300_000, 300_000]);
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 1, () => 0)).toBe(800);
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 1, () => 0.999999)).toBe(1_200);
    // an hour of retries is about twenty attempts
    let t = 0;
    let n = 0;
    while (t < DEFAULT_RETRY_POLICY.budgetMs) t += retryDelayMs(DEFAULT_RETRY_POLICY, ++n, () => 0.5);
    expect(n).toBeGreaterThan(15);
    expect(n).toBeLessThan(25);
  });

  it('a signature verifies over the exact body and timestamp, with the exact secret, while fresh', () => {
    const body = '{"messageId":"x"}';
    const sig = signWebhook(SECRET, '1700000000', body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    const ok = (s: string | undefined, ts: string | undefined, b: string, secret = SECRET, now = 1_700_000_010) => verifyWebhookSignature(secret, s, ts, b, { nowSeconds: now });
    expect(ok(sig, '1700000000', body)).toBe(true);
    expect(ok(sig, '1700000000', body + ' ')).toBe(false);
    expect(ok(sig, '1700000001', body)).toBe(false);
    expect(ok(sig, '1700000000', body, new TextEncoder().encode('another-secret'))).toBe(false);
    expect(ok(sig, '1700000000', body, SECRET, 1_700_000_400)).toBe(false); // stale
    expect(ok(undefined, '1700000000', body)).toBe(false);
    expect(ok(sig.slice(0, -1), '1700000000', body)).toBe(false);
    expect(ok(sig, 'soon', body)).toBe(false);
  });

  it('the secret file is read without one trailing newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ratchetd-secret-'));
    try {
      await writeFile(join(dir, 'a'), 's3cret\n');
      await writeFile(join(dir, 'b'), 's3cret\r\n');
      await writeFile(join(dir, 'c'), 's3cret \n\n');
      await writeFile(join(dir, 'd'), '\n');
      expect(new TextDecoder().decode(await readWebhookSecret(join(dir, 'a')))).toBe('s3cret');
      expect(new TextDecoder().decode(await readWebhookSecret(join(dir, 'b')))).toBe('s3cret');
      expect(new TextDecoder().decode(await readWebhookSecret(join(dir, 'c')))).toBe('s3cret \n');
      await expect(readWebhookSecret(join(dir, 'd'))).rejects.toThrow(/empty/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

