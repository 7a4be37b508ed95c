/**
 * The HTTP API through real HTTP on loopback, over the in-memory FakeBackend: every endpoint, the
 * error of each failure (the same as gRPC's for the same request: one parser, one table), the
 * token, bodies over the limit and malformed JSON (clear 4xx, nothing changed, the next request
 * served), long polls that return when a message arrives, event streams that resume by cursor,
 * and shutdown ending both.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrustError } from '../../core/errors.ts';
import { MAX_MESSAGE_BODY_BYTES } from '../../core/content.ts';
import { ApiCallError, connectMessenger, type MessengerClient } from '../api/client.ts';
import { ApiError } from '../api/errors.ts';
import { FakeBackend } from '../api/fake-backend.ts';
import { ManualClock } from '../api/manual-clock.ts';
import { startTestApi, type TestApi } from '../api/test-server.ts';
import { EngineError } from '../engine/errors.ts';
import type { DaemonEvent, SubscribeOptions } from '../engine/types.ts';
import { RelayError } from '../relay/errors.ts';
import { CorruptRecordError } from '../store/store.ts';
import { HttpError } from './errors.ts';
import { HTTP_BODY_LIMIT, SHUTDOWN_GRACE_MS } from './server.ts';
import { openSse, startTestHttp, TOKEN, type TestHttp } from './test-support.ts';

/** A FakeBackend that tells when a subscription is up (a long poll or event stream is waiting). */
class WatchedBackend extends FakeBackend {
  private waiters: Array<() => void> = [];
  override async subscribe(afterCursor: number, onEvent: (e: DaemonEvent) => void, _options?: SubscribeOptions): Promise<() => void> {
    const stop = await super.subscribe(afterCursor, onEvent);
    for (const w of this.waiters.splice(0)) w();
    return stop;
  }
  subscribed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

let http: TestHttp<WatchedBackend>;
let clock: ManualClock;
beforeEach(async () => {
  clock = new ManualClock();
  http = await startTestHttp({ backend: new WatchedBackend(), timers: clock });
});
afterEach(async () => {
  await http.close();
});

const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

describe('endpoints', () => {
  it('GET /v1/identity', async () => {
    const r = await http.call('GET', '/v1/identity');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      userId: http.backend.identity.userId,
      identityKey: Buffer.from(http.backend.identity.identityKey).toString('hex'),
      safetyNumber: http.backend.identity.fingerprint,
    });
  });

  it('POST /v1/messages sends text or base64 bodies with the options of Send', async () => {
    const peer = http.backend.addPeer();
    const a = await http.call('POST', '/v1/messages', { to: peer, text: 'héllo', idempotencyKey: 'k1' });
    expect(a.status).toBe(200);
    expect(a.json['messageId']).toBe(http.backend.sent[0]?.messageId);
    expect(http.backend.sent[0]).toMatchObject({ to: peer, contentType: 'text/plain; charset=utf-8', idempotencyKey: 'k1' });
    expect(text(http.backend.sent[0]?.body)).toBe('héllo');
    const b = await http.call('POST', '/v1/messages', { to: peer, bodyBase64: Buffer.from([0, 1, 255]).toString('base64'), contentType: 'application/octet-stream', replyTo: 'abc' });
    expect(b.status).toBe(200);
    expect([...(http.backend.sent[1]?.body ?? [])]).toEqual([0, 1, 255]);
    expect(http.backend.sent[1]).toMatchObject({ contentType: 'application/octet-stream', replyTo: 'abc' });
    // the same key again: the same message, not a second one
    const again = await http.call('POST', '/v1/messages', { to: peer, text: 'héllo', idempotencyKey: 'k1' });
    expect(again.json['messageId']).toBe(a.json['messageId']);
    expect(http.backend.sent.length).toBe(2);
  });

  it('GET /v1/messages returns unacked messages after a cursor; POST /v1/ack removes them', async () => {
    const peer = http.backend.addPeer();
    const m1 = http.backend.deliver(peer, 'one');
    const m2 = http.backend.deliver(peer, Uint8Array.of(1, 2, 3), 'application/octet-stream');
    const all = await http.call('GET', '/v1/messages');
    expect(all.status).toBe(200);
    expect(all.json).toEqual({
      messages: [
        { messageId: m1.messageId, from: peer, groupId: '', text: 'one', bodyBase64: Buffer.from('one').toString('base64'), contentType: m1.contentType, sentAt: m1.sentAt, receivedAt: m1.receivedAt, cursor: m1.cursor },
        { messageId: m2.messageId, from: peer, groupId: '', bodyBase64: 'AQID', contentType: 'application/octet-stream', sentAt: m2.sentAt, receivedAt: m2.receivedAt, cursor: m2.cursor },
      ],
      cursor: m2.cursor,
    });
    expect((await http.call('GET', `/v1/messages?cursor=${m1.cursor}`)).json['messages']).toMatchObject([{ messageId: m2.messageId }]);
    expect((await http.call('GET', '/v1/messages?limit=1')).json).toMatchObject({ messages: [{ messageId: m1.messageId }], cursor: m1.cursor });
    expect((await http.call('POST', '/v1/ack', { messageIds: [m1.messageId] })).json).toEqual({});
    expect((await http.call('GET', '/v1/messages')).json['messages']).toMatchObject([{ messageId: m2.messageId }]);
    // nothing after the last cursor: the answer keeps the cursor
    expect((await http.call('GET', `/v1/messages?cursor=${m2.cursor}`)).json).toEqual({ messages: [], cursor: m2.cursor });
  });

  it('GET /v1/contacts and POST /v1/contacts/{userId}/verify', async () => {
    const peer = http.backend.addPeer();
    http.backend.deliver(peer, 'hi');
    const listed = await http.call('GET', '/v1/contacts');
    const contact = (listed.json['contacts'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    expect(contact).toMatchObject({ userId: peer, trust: 'unverified' });
    const wrong = await http.call('POST', `/v1/contacts/${peer}/verify`, { safetyNumber: '1'.repeat(60) });
    expect(wrong.status).toBe(412);
    expect(wrong.json).toMatchObject({ code: 'FAILED_PRECONDITION', errorCode: 'SafetyNumberMismatch' });
    const spaced = String(contact['safetyNumber']).replace(/(\d{5})/g, '$1 ');
    const ok = await http.call('POST', `/v1/contacts/${peer}/verify`, { safetyNumber: spaced });
    expect(ok.status).toBe(200);
    expect(ok.json['contact']).toMatchObject({ userId: peer, trust: 'verified' });
    expect((await http.call('POST', '/v1/contacts/not-a-user/verify', { safetyNumber: '1' })).json).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('GET /v1/status has every field of GetStatus', async () => {
    const r = await http.call('GET', '/v1/status');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ...(await http.backend.getStatus()) });
  });

  it('GET /v1/dead-letters and POST /v1/dead-letters/redrive', async () => {
    const peer = http.backend.addPeer();
    const m = http.backend.deliver(peer, 'x');
    await http.backend.addDeadLetter(m, { attempts: 9, lastError: 'HTTP 503', firstAttemptAt: 5 });
    const listed = await http.call('GET', '/v1/dead-letters');
    expect(listed.json).toMatchObject({ total: 1, deadLetters: [{ messageId: m.messageId, from: peer, cursor: m.cursor, attempts: 9, lastError: 'HTTP 503', firstAttemptAt: 5 }] });
    expect((await http.call('GET', '/v1/dead-letters?limit=1001')).status).toBe(400);
    expect((await http.call('POST', '/v1/dead-letters/redrive', { messageIds: ['unknown'] })).json).toEqual({ messageIds: [] });
    expect((await http.call('POST', '/v1/dead-letters/redrive', {})).json).toEqual({ messageIds: [m.messageId] });
    expect((await http.call('GET', '/v1/dead-letters')).json).toEqual({ deadLetters: [], total: 0 });
  });
});

describe('errors', () => {
  let grpc: TestApi;
  let client: MessengerClient;
  beforeEach(async () => {
    grpc = await startTestApi();
    client = connectMessenger({ socketPath: grpc.socketPath, sendStream: false });
  });
  afterEach(async () => {
    client.close();
    await grpc.cleanup();
  });

  it('a bad request is refused by HTTP exactly as by gRPC Send (one parser, one table)', async () => {
    const peer = http.backend.addPeer(grpc.backend.addPeer());
    const cases: Array<{ http: Record<string, unknown>; grpc: Parameters<MessengerClient['send']>[0] }> = [
      { http: { to: 'bob', text: 'hi' }, grpc: { to: 'bob', body: 'hi' } },
      { http: { text: 'hi' }, grpc: { to: '', body: 'hi' } },
      { http: { to: peer, text: '' }, grpc: { to: peer, body: '' } },
      { http: { to: peer, bodyBase64: Buffer.alloc(MAX_MESSAGE_BODY_BYTES + 1).toString('base64') }, grpc: { to: peer, body: new Uint8Array(MAX_MESSAGE_BODY_BYTES + 1) } },
      { http: { to: peer, text: 'hi', contentType: 'text/plain\n' }, grpc: { to: peer, body: 'hi', contentType: 'text/plain\n' } },
      { http: { to: peer, text: 'hi', idempotencyKey: 'k'.repeat(129) }, grpc: { to: peer, body: 'hi', idempotencyKey: 'k'.repeat(129) } },
      { http: { to: http.backend.addPeer(), text: 'hi' }, grpc: { to: grpc.backend.addPeer(), body: 'hi' } },
    ];
    http.backend.brokerConnected = false;
    grpc.backend.brokerConnected = false;
    for (const c of cases) {
      const h = await http.call('POST', '/v1/messages', c.http);
      let g: ApiCallError | undefined;
      try {
        await client.send(c.grpc);
      } catch (e) {
        g = e as ApiCallError;
      }
      expect(g).toBeInstanceOf(ApiCallError);
      expect(h.json).toEqual({ code: g?.statusName, errorCode: g?.errorCode, message: g?.details });
    }
    expect(http.backend.sent.length).toBe(0);
  });

  it('each failure has the HTTP status of its gRPC code', async () => {
    const cases: Array<[Error, number, string]> = [
      [new EngineError('UnknownPeer', 'no bundle'), 404, 'NOT_FOUND'],
      [new TrustError('UntrustedIdentity', 'changed'), 412, 'FAILED_PRECONDITION'],
      [new EngineError('IdempotencyConflict', 'reused'), 409, 'ALREADY_EXISTS'],
      [new RelayError('BrokerUnavailable', 'down'), 503, 'UNAVAILABLE'],
      [new EngineError('NotReady', 'starting'), 503, 'UNAVAILABLE'],
      [new EngineError('SlowConsumer', 'slow'), 429, 'RESOURCE_EXHAUSTED'],
      [new ApiError('Unimplemented', 'groups'), 501, 'UNIMPLEMENTED'],
      [new HttpError('AckOwnedByWebhook', 'webhook'), 412, 'FAILED_PRECONDITION'],
      [new CorruptRecordError('peer', 'k'), 500, 'DATA_LOSS'],
    ];
    for (const [error, status, code] of cases) {
      http.backend.failWith = error;
      const r = await http.call('GET', '/v1/status');
      expect([r.status, r.json['code'], r.json['errorCode']]).toEqual([status, code, (error as EngineError).code]);
    }
    http.backend.failWith = new Error('secret internals');
    const r = await http.call('GET', '/v1/contacts');
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ code: 'INTERNAL', errorCode: 'Internal', message: 'internal error; see the daemon log' });
  });

  it('a missing or wrong token is 401 on every path, and nothing happens', async () => {
    const peer = http.backend.addPeer();
    for (const authorization of ['', 'Bearer wrong-token-wrong-token', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      for (const [method, path, body] of [
        ['POST', '/v1/messages', { to: peer, text: 'hi' }],
        ['GET', '/v1/identity', undefined],
        ['GET', '/v1/openapi.json', undefined],
        ['GET', '/v1/no-such-route', undefined],
        ['POST', '/v1/alertmanager?to=' + peer, { version: '4', status: 'firing', alerts: [] }],
      ] as const) {
        const r = await http.call(method, path, body, { authorization });
        expect(r.status).toBe(401);
        expect(r.json).toMatchObject({ code: 'UNAUTHENTICATED', errorCode: 'Unauthenticated' });
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    expect(http.backend.sent.length).toBe(0);
    expect((await http.call('POST', '/v1/messages', { to: peer, text: 'hi' })).status).toBe(200);
  });

  it('bodies over the limit, malformed JSON, other media types and unknown fields are clear 4xx; the daemon goes on', async () => {
    const peer = http.backend.addPeer();
    const over = JSON.stringify({ to: peer, bodyBase64: 'A'.repeat(HTTP_BODY_LIMIT) });
    const refusals: Array<[string | object, Record<string, string>, number, string]> = [
      [over, {}, 413, 'BodyTooLarge'],
      ['{"to": "' + peer, {}, 400, 'MalformedJson'],
      ['', { 'content-type': 'application/json' }, 400, 'MalformedJson'],
      ['to=' + peer, { 'content-type': 'application/x-www-form-urlencoded' }, 415, 'UnsupportedMediaType'],
      ['hello', { 'content-type': 'text/plain' }, 415, 'UnsupportedMediaType'],
      [{ to: peer, text: 'hi', idempotency_key: 'k' }, {}, 400, 'InvalidArgument'],
      [{ to: peer, text: 'hi', bodyBase64: 'aGk=' }, {}, 400, 'InvalidArgument'],
      [{ to: peer, bodyBase64: 'not base64!' }, {}, 400, 'InvalidArgument'],
      [{ to: peer, text: 42 }, {}, 400, 'InvalidArgument'],
      ['[1,2]', {}, 400, 'InvalidArgument'],
      ['{"__proto__": {"x": 1}, "to": "a", "text": "b"}', {}, 400, 'MalformedJson'],
    ];
    for (const [body, headers, status, errorCode] of refusals) {
      const r = await http.call('POST', '/v1/messages', body, headers);
      expect([r.status, r.json['errorCode']], JSON.stringify(body).slice(0, 80)).toEqual([status, errorCode]);
      expect(typeof r.json['message']).toBe('string');
      expect((await http.call('GET', '/v1/identity')).status).toBe(200);
    }
    expect(http.backend.sent.length).toBe(0);
    expect((await http.call('POST', '/v1/messages', { to: peer, text: 'hi' })).status).toBe(200);
    expect((await http.call('POST', '/v1/messages', { to: peer, text: 'hi', idempotency_key: 'k' })).json['message']).toBe('body has an unknown field "idempotency_key"');
  });

  it('query parameters out of range are INVALID_ARGUMENT; an unknown route is 404', async () => {
    for (const q of ['cursor=-1', 'cursor=abc', 'cursor=99999999999999999999', 'wait=121', 'limit=0', 'limit=1001', 'color=red']) {
      const r = await http.call('GET', `/v1/messages?${q}`);
      expect([q, r.status, r.json['code']]).toEqual([q, 400, 'INVALID_ARGUMENT']);
    }
    const r = await http.call('DELETE', '/v1/messages');
    expect([r.status, r.json['errorCode']]).toEqual([404, 'RouteNotFound']);
  });
});

describe('long poll', () => {
  it('waits for the first message and returns as soon as it is stored', async () => {
    const peer = http.backend.addPeer();
    const subscribed = http.backend.subscribed();
    const poll = http.call('GET', '/v1/messages?wait=60');
    await subscribed; // the poll found nothing and waits
    const m = http.backend.deliver(peer, 'now');
    const r = await poll;
    expect(r.json).toMatchObject({ messages: [{ messageId: m.messageId, text: 'now' }], cursor: m.cursor });
    expect(clock.pending().filter((t) => t.ms === 60_000).length).toBe(0); // its wait timer was cleared
    // resumes after the cursor: waits again, for the next one only
    const subscribedAgain = http.backend.subscribed();
    const next = http.call('GET', `/v1/messages?wait=60&cursor=${m.cursor}`);
    await subscribedAgain;
    const m2 = http.backend.deliver(peer, 'later');
    expect((await next).json).toMatchObject({ messages: [{ messageId: m2.messageId }], cursor: m2.cursor });
  });

  it('returns nothing when its wait is over (the clock, not a sleep)', async () => {
    const poll = http.call('GET', '/v1/messages?wait=5&cursor=3');
    await clock.whenScheduled((t) => t.ms === 5_000);
    clock.advance(5_000);
    expect(await poll).toMatchObject({ status: 200, json: { messages: [], cursor: 3 } });
    expect(http.backend.subscriberCount).toBe(0);
  });

  it('ends at shutdown', async () => {
    const subscribed = http.backend.subscribed();
    const poll = http.call('GET', '/v1/messages?wait=60');
    await subscribed;
    await http.close();
    const r = await poll;
    expect(r.json).toEqual({ messages: [], cursor: 0 });
    expect(r.headers.get('connection')).toBe('close'); // answered, and the connection not kept for later
    expect(http.backend.subscriberCount).toBe(0);
  });
});

describe('shutdown', () => {
  it('does not wait for idle connections, nor for one that never sent a request', async () => {
    expect((await http.call('GET', '/v1/identity')).status).toBe(200); // a keep-alive connection, idle now
    const { port } = new URL(http.url);
    const silent = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => silent.once('connect', resolve));
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    const grace = clock.whenScheduled((t) => t.ms === SHUTDOWN_GRACE_MS);
    await http.close(); // on the manual clock: its grace timer cannot fire
    expect((await grace).fired).toBe(false);
    await silentClosed;
    expect((await fetch(`${http.url}/v1/identity`).catch((e: unknown) => e)) instanceof Error).toBe(true);
  });
});

describe('server-sent events', () => {
  it('replays unacked messages, says caughtUp, then streams live events; message ids are cursors', async () => {
    const peer = http.backend.addPeer();
    const m1 = http.backend.deliver(peer, 'stored');
    const sse = await openSse(http.url, '/v1/events');
    expect(sse.status).toBe(200);
    expect(sse.contentType).toBe('text/event-stream');
    expect(await sse.next()).toEqual({ id: String(m1.cursor), data: { type: 'message', message: expect.objectContaining({ messageId: m1.messageId, text: 'stored' }) } });
    expect(await sse.next()).toEqual({ data: { type: 'caughtUp', cursor: 0 } });
    const m2 = http.backend.deliver(peer, 'live');
    expect(await sse.next()).toMatchObject({ id: String(m2.cursor), data: { type: 'message', message: { messageId: m2.messageId } } });
    await http.call('POST', '/v1/messages', { to: peer, text: 'out' });
    expect((await sse.next()).data).toMatchObject({ type: 'delivery', to: peer, state: 'sent' });
    const key = http.backend.changeIdentity(peer);
    expect((await sse.next()).data).toEqual({ type: 'identityChanged', userId: peer, newIdentityKey: Buffer.from(key).toString('hex'), at: expect.any(Number) });
    sse.close();
  });

  it('resumes after the cursor of ?cursor= or, winning over it, Last-Event-ID', async () => {
    const peer = http.backend.addPeer();
    const [m1, m2, m3] = ['a', 'b', 'c'].map((t) => http.backend.deliver(peer, t));
    const byQuery = await openSse(http.url, `/v1/events?cursor=${m1?.cursor}`);
    expect((await byQuery.until((e) => e.data['type'] === 'caughtUp')).map((e) => e.id)).toEqual([String(m2?.cursor), String(m3?.cursor), undefined]);
    byQuery.close();
    const byHeader = await openSse(http.url, '/v1/events?cursor=0', { 'last-event-id': String(m2?.cursor) });
    expect((await byHeader.until((e) => e.data['type'] === 'caughtUp')).map((e) => e.id)).toEqual([String(m3?.cursor), undefined]);
    byHeader.close();
    const bad = await http.call('GET', '/v1/events', undefined, { 'last-event-id': 'abc' });
    expect([bad.status, bad.json['code']]).toEqual([400, 'INVALID_ARGUMENT']);
  });

  it('a subscription that cannot start is a JSON error, not a stream', async () => {
    http.backend.failWith = new EngineError('NotReady', 'starting');
    const r = await http.call('GET', '/v1/events');
    expect([r.status, r.json['errorCode']]).toEqual([503, 'NotReady']);
  });

  it('ends at shutdown with an UNAVAILABLE error event', async () => {
    const sse = await openSse(http.url, '/v1/events');
    expect((await sse.next()).data['type']).toBe('caughtUp');
    await http.close();
    expect((await sse.next()).data).toEqual({ type: 'error', error: { code: 'UNAVAILABLE', errorCode: 'NotReady', message: 'the daemon is shutting down; reconnect later' } });
    await sse.ended();
    expect(http.backend.subscriberCount).toBe(0);
  });
});
