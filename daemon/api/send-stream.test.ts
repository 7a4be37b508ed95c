import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { MAX_MESSAGE_BODY_BYTES } from '../../core/content.ts';
import { CorruptRecordError } from '../store/store.ts';
import type { SendRequest } from './backend.ts';
import { ApiCallError, connectMessenger, SEND_STREAM_IDLE_MS, type MessengerClient, type SendInput } from './client.ts';
import { randomUserId, type FakeBackend } from './fake-backend.ts';
import { MAX_SENDS_IN_FLIGHT_PER_STREAM, SEND_STREAM_DRAIN_MS } from './handlers.ts';
import { ManualClock } from './manual-clock.ts';
import { loadMessengerDefinitions } from './proto.ts';
import { createApiServer, SHUTDOWN_GRACE_MS } from './server.ts';
import { eventually, rejection, silentLogger, startTestApi, type TestApi } from './test-server.ts';
import type { WireSendStreamResult } from './wire.ts';

/** Makes the backend's sends for which `gated` holds wait until release(); counts them. */
function gateSends(backend: FakeBackend, gated: (req: SendRequest) => boolean = () => true) {
  const original = backend.send.bind(backend);
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const state = { running: 0, maxRunning: 0, started: 0, release: (): void => open() };
  backend.send = async (req: SendRequest) => {
    if (!gated(req)) return original(req);
    state.started++;
    state.running++;
    state.maxRunning = Math.max(state.maxRunning, state.running);
    try {
      await gate;
      return await original(req);
    } finally {
      state.running--;
    }
  };
  return state;
}

const SEND_STREAM = loadMessengerDefinitions().service['SendStream'];
if (SEND_STREAM === undefined) throw new Error('SendStream missing from the service');
const serializeRequest = SEND_STREAM.requestSerialize as (request: object) => Buffer;

/** A SendStream driven by hand: requests as objects (serialized here) or raw bytes. */
function rawSendStream(target: string, metadata = new grpc.Metadata()) {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(SEND_STREAM!.path, (b: Buffer) => b, SEND_STREAM!.responseDeserialize as (b: Buffer) => WireSendStreamResult, metadata, {});
  const results: WireSendStreamResult[] = [];
  call.on('data', (r: WireSendStreamResult) => results.push(r));
  call.on('error', () => undefined); // the status below says it
  // 'status' may come before results already received are emitted: look one macrotask later.
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', (s: grpc.StatusObject) => setImmediate(() => resolve(s))));
  return {
    results,
    status,
    write: (request: object | Buffer) => call.write(Buffer.isBuffer(request) ? request : serializeRequest(request)),
    end: () => call.end(),
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

function sendOf(to: string, text: string, extra: object = {}): object {
  return { to, body: Buffer.from(text), content_type: 'text/plain', ...extra };
}

let api: TestApi;
const extra: (() => Promise<void> | void)[] = [];
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  for (const cleanup of extra.splice(0).reverse()) await cleanup();
  await api.cleanup();
});

function client(options: { sendStream?: boolean; callTimeoutMs?: number; timers?: ManualClock } = {}): MessengerClient {
  const c = connectMessenger({ socketPath: api.socketPath, ...options });
  extra.push(() => c.close());
  return c;
}

describe('MessengerClient.send over SendStream', () => {
  it('answers many concurrent sends on one stream, each with its own message id', async () => {
    const peer = api.backend.addPeer();
    const count = 3000; // more than MAX_SENDS_IN_FLIGHT_PER_STREAM: reading pauses and resumes
    const results = await Promise.all(Array.from({ length: count }, (_, i) => api.client.send({ to: peer, body: `m${i}` })));
    expect(api.client.sendStreamOpen).toBe(true);
    expect(new Set(results.map((r) => r.messageId)).size).toBe(count);
    expect(api.backend.sent).toHaveLength(count);
    const bodyById = new Map(api.backend.sent.map((s) => [s.messageId, new TextDecoder().decode(s.body)]));
    results.forEach((r, i) => expect(bodyById.get(r.messageId)).toBe(`m${i}`));
  });

  it('passes every field, the idempotency key included, and deduplicates with it', async () => {
    const peer = api.backend.addPeer();
    const body = new Uint8Array([0, 1, 2, 255]);
    const a = await api.client.send({ to: peer, body, contentType: 'application/octet-stream', idempotencyKey: 'key-1' });
    const b = await api.client.send({ to: peer, body, contentType: 'application/octet-stream', idempotencyKey: 'key-1' });
    expect(b.messageId).toBe(a.messageId);
    expect(api.backend.sent).toEqual([{ to: peer, body, contentType: 'application/octet-stream', idempotencyKey: 'key-1', messageId: a.messageId }]);
  });

  const failures: [string, (api: TestApi) => Promise<SendInput>, GrpcStatus, string | undefined][] = [
    ['a malformed user id', async () => ({ to: 'not-a-user', body: 'x' }), GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['a missing recipient', async () => ({ to: '', body: 'x' }), GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['an empty body', async () => ({ to: randomUserId(), body: new Uint8Array(0) }), GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['a body one byte too large', async () => ({ to: randomUserId(), body: new Uint8Array(MAX_MESSAGE_BODY_BYTES + 1) }), GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['a body over the gRPC message limit', async () => ({ to: randomUserId(), body: new Uint8Array(2 * 1024 * 1024) }), GrpcStatus.RESOURCE_EXHAUSTED, undefined],
    ['a control character in the idempotency key', async () => ({ to: randomUserId(), body: 'x', idempotencyKey: 'a\nb' }), GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['an unknown peer', async () => ({ to: randomUserId(), body: 'x' }), GrpcStatus.NOT_FOUND, 'UnknownPeer'],
    [
      'a changed identity',
      async (t) => {
        const peer = t.backend.addPeer();
        t.backend.changeIdentity(peer);
        return { to: peer, body: 'x' };
      },
      GrpcStatus.FAILED_PRECONDITION,
      'UntrustedIdentity',
    ],
    [
      'the broker down',
      async (t) => {
        const peer = t.backend.addPeer();
        t.backend.brokerConnected = false;
        return { to: peer, body: 'x' };
      },
      GrpcStatus.UNAVAILABLE,
      'BrokerUnavailable',
    ],
    [
      'an idempotency key reused for another message',
      async (t) => {
        const peer = t.backend.addPeer();
        await t.client.send({ to: peer, body: 'one', idempotencyKey: 'k' });
        return { to: peer, body: 'two', idempotencyKey: 'k' };
      },
      GrpcStatus.ALREADY_EXISTS,
      'IdempotencyConflict',
    ],
    [
      'an unexpected backend failure (hidden)',
      async (t) => {
        t.backend.failWith = new Error('secret detail 0xdeadbeef');
        return { to: randomUserId(), body: 'x' };
      },
      GrpcStatus.INTERNAL,
      undefined,
    ],
    [
      'a corrupt record (hidden detail)',
      async (t) => {
        t.backend.failWith = new CorruptRecordError('peer', 'record at /secret/path failed its MAC');
        return { to: randomUserId(), body: 'x' };
      },
      GrpcStatus.DATA_LOSS,
      'CorruptRecord',
    ],
  ];

  it.each(failures)('fails on %s exactly as the unary Send does', async (_name, setup, code, errorCode) => {
    const input = await setup(api);
    const streamed = client();
    const unary = client({ sendStream: false });
    const viaStream = await rejection(streamed.send(input));
    const viaUnary = await rejection(unary.send(input));
    const shape = (e: ApiCallError) => ({ name: e.name, code: e.code, statusName: e.statusName, errorCode: e.errorCode, details: e.details, message: e.message });
    expect(shape(viaStream)).toEqual(shape(viaUnary));
    expect(viaStream.code).toBe(code);
    expect(viaStream.errorCode).toBe(errorCode);
    expect(viaStream.message).not.toMatch(/secret|deadbeef/);
    expect(unary.sendStreamOpen).toBe(false);
  });

  it('a failed send does not disturb the others on the stream', async () => {
    const peer = api.backend.addPeer();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => {
        if (i % 4 === 1) return api.client.send({ to: 'not-a-user', body: 'x' });
        if (i % 4 === 2) return api.client.send({ to: randomUserId(), body: 'x' });
        if (i === 3) return api.client.send({ to: peer, body: new Uint8Array(2 * 1024 * 1024) }); // over the gRPC limit
        return api.client.send({ to: peer, body: `ok${i}` });
      }),
    );
    const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : GrpcStatus[(o.reason as ApiCallError).code]));
    expect(codes).toEqual(Array.from({ length: 40 }, (_, i) => (i % 4 === 1 ? 'INVALID_ARGUMENT' : i % 4 === 2 ? 'NOT_FOUND' : i === 3 ? 'RESOURCE_EXHAUSTED' : 'ok')));
    expect(api.backend.sent).toHaveLength(codes.filter((c) => c === 'ok').length);
    expect(api.client.sendStreamOpen).toBe(true);
  });

  it('rejects a send whose result does not come in time with DEADLINE_EXCEEDED, at its deadline; the stream goes on', async () => {
    const peer = api.backend.addPeer();
    const gate = gateSends(api.backend, (req) => new TextDecoder().decode(req.body) === 'slow');
    const clock = new ManualClock();
    const c = client({ callTimeoutMs: 150, timers: clock });
    let settled = false;
    const slow = rejection(c.send({ to: peer, body: 'slow' })).finally(() => (settled = true));
    await eventually(() => gate.started === 1); // the daemon is working on it
    // The stream's one timer is set for the deadline (not for the end of the idle time): at 149 ms
    // the send still waits, at 150 ms it fails.
    expect(clock.pending().map((t) => t.due - clock.now())).toEqual([150]);
    clock.advance(149);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    clock.advance(1);
    const err = await slow;
    expect(err.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(err.errorCode).toBeUndefined();
    expect(c.sendStreamOpen).toBe(true);
    await c.send({ to: peer, body: 'fast' });
    gate.release();
    await eventually(() => gate.running === 0);
    expect(await c.send({ to: peer, body: 'after' })).toMatchObject({ messageId: expect.any(String) });
    expect(c.sendStreamOpen).toBe(true);
  });

  it('ends a stream idle for SEND_STREAM_IDLE_MS, and the next send opens a new one', async () => {
    const peer = api.backend.addPeer();
    const clock = new ManualClock();
    const c = client({ timers: clock });
    await c.send({ to: peer, body: 'one' });
    expect(c.sendStreamOpen).toBe(true);
    // idle from the moment the answer came: open until SEND_STREAM_IDLE_MS later, not a tick more
    clock.advance(SEND_STREAM_IDLE_MS - 1);
    expect(c.sendStreamOpen).toBe(true);
    clock.advance(1);
    expect(c.sendStreamOpen).toBe(false);
    await c.send({ to: peer, body: 'two' });
    expect(c.sendStreamOpen).toBe(true);
    expect(api.backend.sent).toHaveLength(2);
  });

  it('a send on an idle stream restarts its idle time', async () => {
    const peer = api.backend.addPeer();
    const clock = new ManualClock();
    const c = client({ timers: clock });
    await c.send({ to: peer, body: 'one' });
    clock.advance(SEND_STREAM_IDLE_MS - 1);
    await c.send({ to: peer, body: 'two' });
    clock.advance(SEND_STREAM_IDLE_MS - 1);
    expect(c.sendStreamOpen).toBe(true);
    clock.advance(1);
    expect(c.sendStreamOpen).toBe(false);
  });

  it('does not keep a finished process alive (the idle stream ends on its own)', async () => {
    const peer = api.backend.addPeer();
    const script = join(api.dir, 'send-once.mts');
    const clientModule = new URL('./client.ts', import.meta.url).pathname;
    await writeFile(
      script,
      `import { connectMessenger } from ${JSON.stringify(clientModule)};\n` +
        `const client = connectMessenger({ socketPath: ${JSON.stringify(api.socketPath)} });\n` +
        `const { messageId } = await client.send({ to: ${JSON.stringify(peer)}, body: 'bye' });\n` +
        `process.stdout.write(messageId);\n`, // no client.close(): the process must still end
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    extra.push(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | string | null>((resolve) => {
      child.on('exit', resolve);
      setTimeout(() => resolve('still running 20 s later: an open call keeps it alive'), 20_000).unref();
    });
    expect(code).toBe(0);
    expect(out).toBe(api.backend.sent[0]?.messageId);
  });

  it('close() ends the stream after the sends still waiting are answered', async () => {
    const peer = api.backend.addPeer();
    const gate = gateSends(api.backend);
    const c = connectMessenger({ socketPath: api.socketPath });
    const sends = Array.from({ length: 5 }, (_, i) => c.send({ to: peer, body: `m${i}` }));
    await eventually(() => gate.started === 5);
    c.close();
    expect(c.sendStreamOpen).toBe(false);
    gate.release();
    const results = await Promise.all(sends);
    expect(new Set(results.map((r) => r.messageId)).size).toBe(5);
  });

  it('with sendStream: false, sends are unary calls', async () => {
    const peer = api.backend.addPeer();
    const c = client({ sendStream: false });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.send({ to: peer, body: `u${i}`, idempotencyKey: `u${i}` })));
    expect(new Set(results.map((r) => r.messageId)).size).toBe(20);
    expect(api.backend.sent.map((s) => s.idempotencyKey).sort()).toEqual(results.map((_, i) => `u${i}`).sort());
    expect(c.sendStreamOpen).toBe(false);
  });
});

describe('SendStream at server shutdown', () => {
  it('stops reading, answers the sends it started, rejects the rest with UNAVAILABLE; a new server works', async () => {
    const peer = api.backend.addPeer();
    const gate = gateSends(api.backend);
    const extraSends = 6;
    const outcomes = Array.from({ length: MAX_SENDS_IN_FLIGHT_PER_STREAM + extraSends }, (_, i) =>
      api.client.send({ to: peer, body: `m${i}` }).then(
        (r) => ({ ok: true as const, id: r.messageId }),
        (e: unknown) => ({ ok: false as const, error: e }),
      ),
    );
    await eventually(() => gate.started >= MAX_SENDS_IN_FLIGHT_PER_STREAM);
    // The server holds the rest: a full round trip later, still no more sends started.
    await api.client.getStatus();
    expect(gate.started).toBe(MAX_SENDS_IN_FLIGHT_PER_STREAM);
    const closed = api.server.close();
    gate.release();
    await closed;
    const settled = await Promise.all(outcomes);
    const ok = settled.filter((o) => o.ok);
    const failed = settled.flatMap((o) => (o.ok ? [] : [o.error]));
    expect(ok).toHaveLength(MAX_SENDS_IN_FLIGHT_PER_STREAM);
    expect(api.backend.sent).toHaveLength(MAX_SENDS_IN_FLIGHT_PER_STREAM);
    expect(failed).toHaveLength(extraSends);
    for (const e of failed) {
      expect(e).toBeInstanceOf(ApiCallError);
      expect((e as ApiCallError).code).toBe(GrpcStatus.UNAVAILABLE);
      expect((e as ApiCallError).errorCode).toBe('NotReady');
    }
    expect(gate.maxRunning).toBe(MAX_SENDS_IN_FLIGHT_PER_STREAM);

    // The daemon comes back on the same socket: the same client sends on a new stream.
    const again = createApiServer({ backend: api.backend, socketPath: api.socketPath, logger: silentLogger });
    extra.push(() => again.close());
    await again.start();
    await api.client.waitForReady(10_000);
    expect(await api.client.send({ to: peer, body: 'after the restart' })).toMatchObject({ messageId: expect.any(String) });
  });

  it('does not hold up shutdown: sends that never finish are rejected when SEND_STREAM_DRAIN_MS is over', { timeout: 10_000 }, async () => {
    const clock = new ManualClock();
    const timed = await startTestApi({ serverTimers: clock });
    extra.push(() => timed.cleanup());
    const peer = timed.backend.addPeer();
    const gate = gateSends(timed.backend); // never released
    const pending = Array.from({ length: 3 }, (_, i) => rejection(timed.client.send({ to: peer, body: `m${i}` })));
    await eventually(() => gate.started === 3);
    let closed = false;
    const closing = timed.server.close().then(() => (closed = true));
    // close() ends the stream: it stops reading and waits out its drain window for the running sends
    const drain = await clock.whenScheduled((t) => t.ms === SEND_STREAM_DRAIN_MS);
    const grace = await clock.whenScheduled((t) => t.ms === SHUTDOWN_GRACE_MS);
    expect(closed).toBe(false);
    clock.advance(SEND_STREAM_DRAIN_MS);
    await closing;
    expect(drain.fired).toBe(true);
    expect(grace.fired, 'close() returned at the end of the drain window, not of the grace period').toBe(false);
    for (const err of await Promise.all(pending)) {
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(err.errorCode).toBe('NotReady');
    }
    expect(timed.client.sendStreamOpen).toBe(false);
  });
});

describe('SendStream protocol', () => {
  it('answers in completion order with each request_id; a client half-close ends the stream with OK after the answers', async () => {
    const peer = api.backend.addPeer();
    const gate = gateSends(api.backend, (req) => new TextDecoder().decode(req.body) === 'slow');
    const raw = rawSendStream(`unix:${api.socketPath}`);
    extra.push(raw.close);
    raw.write({ request_id: 7, send: sendOf(peer, 'slow') });
    raw.write({ request_id: 8, send: sendOf(peer, 'fast') });
    await eventually(() => raw.results.length === 1);
    raw.end();
    expect(raw.results[0]).toMatchObject({ request_id: 8, result: 'message_id' });
    gate.release();
    const status = await raw.status;
    expect(status.code).toBe(GrpcStatus.OK);
    expect(raw.results.map((r) => r.request_id)).toEqual([8, 7]);
    expect(raw.results[1]).toMatchObject({ request_id: 7, result: 'message_id', message_id: api.backend.sent.find((s) => new TextDecoder().decode(s.body) === 'slow')?.messageId });
  });

  it('refuses a request without `send`, and a request_id still in flight, with an INVALID_ARGUMENT result', async () => {
    const peer = api.backend.addPeer();
    const gate = gateSends(api.backend);
    const raw = rawSendStream(`unix:${api.socketPath}`);
    extra.push(raw.close);
    raw.write({ request_id: 1 });
    raw.write({ request_id: 2, send: sendOf(peer, 'first') });
    await eventually(() => gate.started === 1);
    raw.write({ request_id: 2, send: sendOf(peer, 'again') });
    await eventually(() => raw.results.length === 2);
    expect(raw.results).toEqual([
      { request_id: 1, result: 'error', error: { code: GrpcStatus.INVALID_ARGUMENT, error_code: 'InvalidArgument', message: 'send is required (the SendRequest)' } },
      { request_id: 2, result: 'error', error: { code: GrpcStatus.INVALID_ARGUMENT, error_code: 'InvalidArgument', message: 'request_id 2 is already in flight on this stream' } },
    ]);
    gate.release();
    await eventually(() => raw.results.length === 3);
    expect(raw.results[2]).toMatchObject({ request_id: 2, result: 'message_id' });
    expect(api.backend.sent).toHaveLength(1);
    // Once answered, the id may be used again.
    raw.write({ request_id: 2, send: sendOf(peer, 'third') });
    await eventually(() => raw.results.length === 4);
    expect(raw.results[3]).toMatchObject({ request_id: 2, result: 'message_id' });
  });

  it('ends the stream with INVALID_ARGUMENT on bytes that are not a request, after answering the sends it started', async () => {
    const clock = new ManualClock();
    const timed = await startTestApi({ serverTimers: clock });
    extra.push(() => timed.cleanup());
    const peer = timed.backend.addPeer();
    const gate = gateSends(timed.backend);
    const raw = rawSendStream(`unix:${timed.socketPath}`);
    extra.push(raw.close);
    raw.write({ request_id: 1, send: sendOf(peer, 'started') });
    await eventually(() => gate.started === 1);
    raw.write(Buffer.from([0x08, 0xff, 0xff])); // field 1 as a varint that never ends
    raw.write({ request_id: 3, send: sendOf(peer, 'never read') });
    let ended = false;
    void raw.status.then(() => (ended = true));
    // The server has read the garbage once the stream waits out its drain window for request 1.
    await clock.whenScheduled((t) => t.ms === SEND_STREAM_DRAIN_MS);
    expect(ended).toBe(false);
    gate.release();
    const status = await raw.status;
    expect(status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status.details).toMatch(/not a valid ratchetd.v1 SendStream request/);
    expect(status.metadata.get('ratchetd-error-code')).toEqual(['InvalidArgument']);
    expect(raw.results).toEqual([expect.objectContaining({ request_id: 1, result: 'message_id' })]);
    expect(timed.backend.sent).toHaveLength(1);
  });

  it('ends the stream with INVALID_ARGUMENT on a request_id it cannot echo exactly (above 2^53-1)', async () => {
    const peer = api.backend.addPeer();
    const raw = rawSendStream(`unix:${api.socketPath}`);
    extra.push(raw.close);
    raw.write({ request_id: '9007199254740991', send: sendOf(peer, 'largest exact id') });
    raw.write({ request_id: '9007199254740993', send: sendOf(peer, 'too large') });
    const status = await raw.status;
    expect(status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status.details).toMatch(/request_id/);
    expect(raw.results).toEqual([expect.objectContaining({ request_id: Number.MAX_SAFE_INTEGER, result: 'message_id' })]);
    expect(api.backend.sent).toHaveLength(1);
  });

  it('works on at most MAX_SENDS_IN_FLIGHT_PER_STREAM requests at once and resumes reading', async () => {
    const peer = api.backend.addPeer();
    const gate = gateSends(api.backend);
    const raw = rawSendStream(`unix:${api.socketPath}`);
    extra.push(raw.close);
    const total = MAX_SENDS_IN_FLIGHT_PER_STREAM + 200;
    for (let i = 0; i < total; i++) raw.write({ request_id: i, send: sendOf(peer, `m${i}`) });
    await eventually(() => gate.started >= MAX_SENDS_IN_FLIGHT_PER_STREAM);
    await api.client.getStatus();
    expect(gate.started).toBe(MAX_SENDS_IN_FLIGHT_PER_STREAM);
    gate.release();
    await eventually(() => raw.results.length === total);
    expect(gate.maxRunning).toBe(MAX_SENDS_IN_FLIGHT_PER_STREAM);
    expect(new Set(raw.results.map((r) => r.request_id)).size).toBe(total);
    expect(raw.results.every((r) => r.result === 'message_id')).toBe(true);
  });
});
