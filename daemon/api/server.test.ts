import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stat } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { MAX_MESSAGE_BODY_BYTES } from '../../core/content.ts';
import { ApiCallError, connectMessenger, type ApiEvent } from './client.ts';
import { SHUTDOWN_GRACE_MS } from './server.ts';
import { ApiError } from './errors.ts';
import { MAX_PENDING_EVENTS_PER_STREAM } from './handlers.ts';
import { randomUserId } from './fake-backend.ts';
import { ManualClock } from './manual-clock.ts';
import { eventually, rejection, startTestApi, type TestApi } from './test-server.ts';

/** Reads events until `count` have arrived, then stops the stream. */
async function take(iter: AsyncGenerator<ApiEvent>, count: number): Promise<ApiEvent[]> {
  const out: ApiEvent[] = [];
  if (count === 0) return out;
  for await (const e of iter) {
    out.push(e);
    if (out.length === count) break;
  }
  return out;
}

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.cleanup();
});

describe('Messenger over a Unix socket', () => {
  it('creates the socket with mode 0600', async () => {
    const info = await stat(api.socketPath);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
    expect(api.listening.socket).toBe(api.socketPath);
  });

  it('GetIdentity returns the backend identity', async () => {
    const identity = await api.client.getIdentity();
    expect(identity.userId).toBe(api.backend.identity.userId);
    expect(identity.identityKey).toEqual(api.backend.identity.identityKey);
    expect(identity.fingerprint).toBe(api.backend.identity.fingerprint);
  });

  it('Send passes every field and returns the message id', async () => {
    const peer = api.backend.addPeer();
    const body = new Uint8Array([0, 1, 2, 255]);
    const { messageId } = await api.client.send({ to: peer, body, contentType: 'application/octet-stream', idempotencyKey: 'k-1' });
    expect(api.backend.sent).toHaveLength(1);
    const sent = api.backend.sent[0];
    expect(sent?.messageId).toBe(messageId);
    expect(sent?.to).toBe(peer);
    expect(sent?.body).toEqual(body);
    expect(sent?.contentType).toBe('application/octet-stream');
    expect(sent?.idempotencyKey).toBe('k-1');
  });

  it('Send of text uses text/plain and leaves absent fields absent', async () => {
    const peer = api.backend.addPeer();
    await api.client.send({ to: peer, body: 'héllo' });
    const sent = api.backend.sent[0];
    expect(new TextDecoder().decode(sent?.body)).toBe('héllo');
    expect(sent?.contentType).toBe('text/plain; charset=utf-8');
    expect(sent?.idempotencyKey).toBeUndefined();
  });

  it('Send with the same idempotency key sends once; a different body under it is ALREADY_EXISTS', async () => {
    const peer = api.backend.addPeer();
    const a = await api.client.send({ to: peer, body: 'one', idempotencyKey: 'same' });
    const b = await api.client.send({ to: peer, body: 'one', idempotencyKey: 'same' });
    expect(b.messageId).toBe(a.messageId);
    expect(api.backend.sent).toHaveLength(1);
    const err = await rejection(api.client.send({ to: peer, body: 'two', idempotencyKey: 'same' }));
    expect(err.code).toBe(GrpcStatus.ALREADY_EXISTS);
    expect(err.errorCode).toBe('IdempotencyConflict');
  });

  it('accepts a body of exactly MAX_MESSAGE_BODY_BYTES', async () => {
    const peer = api.backend.addPeer();
    await api.client.send({ to: peer, body: new Uint8Array(MAX_MESSAGE_BODY_BYTES) });
    expect(api.backend.sent[0]?.body.length).toBe(MAX_MESSAGE_BODY_BYTES);
  });

  it.each([
    ['a malformed user id', { to: 'not-a-user', body: 'x' }, 'to is not a ratchetd user id'],
    ['an upper-case user id', { to: randomUserId().toUpperCase(), body: 'x' }, 'to is not a ratchetd user id'],
    ['a missing recipient', { to: '', body: 'x' }, 'to is required'],
    ['an empty body', { to: randomUserId(), body: new Uint8Array(0) }, 'body is empty'],
    ['an oversized body', { to: randomUserId(), body: new Uint8Array(MAX_MESSAGE_BODY_BYTES + 1) }, `limit is ${MAX_MESSAGE_BODY_BYTES}`],
    ['a long content type', { to: randomUserId(), body: 'x', contentType: 'a'.repeat(129) }, 'content_type is longer'],
    ['a non-ASCII content type', { to: randomUserId(), body: 'x', contentType: 'text/é' }, 'printable ASCII'],
    ['a long idempotency key', { to: randomUserId(), body: 'x', idempotencyKey: 'k'.repeat(129) }, 'idempotency_key is longer'],
    ['a control character in the idempotency key', { to: randomUserId(), body: 'x', idempotencyKey: 'a\nb' }, 'control characters'],
  ])('Send refuses %s with INVALID_ARGUMENT before the backend sees it', async (_name, input, message) => {
    const err = await rejection(api.client.send(input));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.errorCode).toBe('InvalidArgument');
    expect(err.details).toContain(message);
    expect(api.backend.sent).toHaveLength(0);
  });

  it('Send to an unknown peer is NOT_FOUND', async () => {
    const err = await rejection(api.client.send({ to: randomUserId(), body: 'x' }));
    expect(err.code).toBe(GrpcStatus.NOT_FOUND);
    expect(err.errorCode).toBe('UnknownPeer');
  });

  it('Send to a changed identity is FAILED_PRECONDITION until VerifyContact approves it', async () => {
    const peer = api.backend.addPeer();
    api.backend.changeIdentity(peer);
    const err = await rejection(api.client.send({ to: peer, body: 'x' }));
    expect(err.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(err.errorCode).toBe('UntrustedIdentity');
    const contact = (await api.client.listContacts()).find((c) => c.userId === peer);
    expect(contact?.trust).toBe('changed');
    expect(contact?.pendingIdentityKey?.length).toBe(32);
    const verified = await api.client.verifyContact(peer, contact?.safetyNumber ?? '');
    expect(verified.trust).toBe('verified');
    expect(verified.pendingIdentityKey).toBeUndefined();
    await api.client.send({ to: peer, body: 'x' });
    expect(api.backend.sent).toHaveLength(1);
  });

  it('Send while the broker is down is UNAVAILABLE', async () => {
    const peer = api.backend.addPeer();
    api.backend.brokerConnected = false;
    const err = await rejection(api.client.send({ to: peer, body: 'x' }));
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.errorCode).toBe('BrokerUnavailable');
  });

  it('bytes that are not a protobuf request are INVALID_ARGUMENT (not INTERNAL), for unary calls and Receive, and change nothing', async () => {
    const raw = new grpc.Client(`unix:${api.socketPath}`, grpc.credentials.createInsecure());
    const garbage = Buffer.from([0x08, 0xff, 0xff]); // field 1 as a varint that never ends
    const unaryStatus = (method: string): Promise<grpc.ServiceError | null> =>
      new Promise((resolve) => {
        raw.makeUnaryRequest(`/ratchetd.v1.Messenger/${method}`, (b: Buffer) => b, (b: Buffer) => b, garbage, new grpc.Metadata(), {}, (err) => resolve(err));
      });
    try {
      for (const method of ['Send', 'Ack', 'VerifyContact']) {
        const err = await unaryStatus(method);
        expect(err?.code, method).toBe(GrpcStatus.INVALID_ARGUMENT);
        expect(err?.details, method).toMatch(new RegExp(`not a valid ratchetd.v1 ${method} request`));
        expect(err?.metadata.get('ratchetd-error-code')[0], method).toBe('InvalidArgument');
      }
      const streamErr = await new Promise<grpc.ServiceError>((resolve) => {
        const call = raw.makeServerStreamRequest('/ratchetd.v1.Messenger/Receive', (b: Buffer) => b, (b: Buffer) => b, garbage, new grpc.Metadata(), {});
        call.on('data', () => undefined);
        call.on('error', resolve);
      });
      expect(streamErr.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(api.backend.sent).toHaveLength(0);
      // A well-formed call on the same server still works.
      expect((await api.client.getIdentity()).userId).toBe(api.backend.identity.userId);
    } finally {
      raw.close();
    }
  });

  it('shutdown ends a unary call the backend never answers when the grace period is over, so close() returns', { timeout: 10_000 }, async () => {
    const clock = new ManualClock();
    const timed = await startTestApi({ serverTimers: clock });
    let calls = 0;
    timed.backend.send = () => {
      calls++;
      return new Promise(() => undefined);
    };
    const unaryClient = connectMessenger({ socketPath: timed.socketPath, sendStream: false });
    try {
      const outcome = unaryClient.send({ to: timed.backend.addPeer(), body: 'x' }).then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await eventually(() => calls === 1);
      const closing = timed.server.close();
      // close() waits for the call; only the end of the grace period ends it
      const grace = await clock.whenScheduled((t) => t.ms === SHUTDOWN_GRACE_MS);
      clock.advance(SHUTDOWN_GRACE_MS);
      await closing;
      expect(grace.fired).toBe(true);
      expect(await outcome).toBeInstanceOf(ApiCallError);
    } finally {
      unaryClient.close();
      await timed.cleanup();
    }
  });

  it('an unexpected backend failure is INTERNAL without its message', async () => {
    api.backend.failWith = new Error('secret detail 0xdeadbeef');
    const err = await rejection(api.client.getStatus());
    expect(err.code).toBe(GrpcStatus.INTERNAL);
    expect(err.errorCode).toBeUndefined();
    expect(err.message).not.toContain('secret');
    expect(err.message).not.toContain('deadbeef');
  });

  it('GetStatus returns every field', async () => {
    api.backend.deliver(api.backend.addPeer(), 'x');
    const status = await api.client.getStatus();
    expect(status).toEqual({
      brokerConnected: true,
      brokerUrl: 'mqtt://127.0.0.1:1883',
      oneTimePrekeys: 100,
      signedPrekeyAgeMs: 1234,
      outboxDepth: 0,
      inboxDepth: 1,
      contacts: 1,
      contactsRefused: 0,
      messagesRefused: 0,
      idempotencyRecords: 0,
      deadLetters: 0,
      webhookPending: 0,
    });
  });

  it('ListContacts and VerifyContact (spaces in the safety number are ignored)', async () => {
    const peer = api.backend.addPeer();
    await api.client.send({ to: peer, body: 'hi' });
    const [contact] = await api.client.listContacts();
    expect(contact?.userId).toBe(peer);
    expect(contact?.trust).toBe('unverified');
    const spaced = (contact?.safetyNumber ?? '').replace(/(\d{5})/g, '$1 ');
    const verified = await api.client.verifyContact(peer, spaced);
    expect(verified.trust).toBe('verified');
    expect((await api.client.listContacts())[0]?.trust).toBe('verified');
  });

  it.each([
    ['a bad user id', 'nope', '12345', GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['letters in the safety number', 'VALID', '12a45', GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['an empty safety number', 'VALID', '  ', GrpcStatus.INVALID_ARGUMENT, 'InvalidArgument'],
    ['an unknown contact', 'UNKNOWN', '12345', GrpcStatus.NOT_FOUND, 'UnknownPeer'],
    ['a wrong safety number', 'VALID', '12345', GrpcStatus.FAILED_PRECONDITION, 'SafetyNumberMismatch'],
  ])('VerifyContact refuses %s', async (_name, who, number, code, errorCode) => {
    const peer = api.backend.addPeer();
    api.backend.deliver(peer, 'make it a contact');
    const userId = who === 'VALID' ? peer : who === 'UNKNOWN' ? randomUserId() : who;
    const err = await rejection(api.client.verifyContact(userId, number));
    expect(err.code).toBe(code);
    expect(err.errorCode).toBe(errorCode);
    expect((await api.client.listContacts())[0]?.trust).toBe('unverified');
  });

  it('Ack refuses an empty list and an oversized one', async () => {
    expect((await rejection(api.client.ack([]))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await rejection(api.client.ack(Array.from({ length: 1001 }, (_, i) => `id-${i}`)))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await rejection(api.client.ack(['']))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });
});

describe('Receive', () => {
  it('replays unacked messages in order, then caught_up, then live events', async () => {
    const peer = api.backend.addPeer();
    const stored = ['one', 'two', 'three'].map((t) => api.backend.deliver(peer, t));
    const iter = api.client.receive();
    const first = await take(iter, 4);
    expect(first.map((e) => (e.kind === 'message' ? new TextDecoder().decode(e.message.body) : e.kind))).toEqual(['one', 'two', 'three', 'caughtUp']);
    const m = first[0];
    if (m?.kind !== 'message') throw new Error('expected a message');
    expect(m.message).toEqual(stored[0]);
  });

  it('streams live messages, delivery updates and identity-change alerts after caught_up', async () => {
    const peer = api.backend.addPeer();
    const iter = api.client.receive();
    const caughtUp = await iter.next();
    expect(caughtUp.value).toEqual({ kind: 'caughtUp', cursor: 0 });
    const live = api.backend.deliver(peer, 'live');
    const { messageId } = await api.client.send({ to: peer, body: 'out' });
    const newKey = api.backend.changeIdentity(peer);
    const events = await take(iter, 3);
    expect(events[0]).toEqual({ kind: 'message', message: live });
    expect(events[1]).toMatchObject({ kind: 'delivery', messageId, to: peer, state: 'sent' });
    expect(events[2]).toMatchObject({ kind: 'identityChanged', userId: peer, newIdentityKey: newKey });
  });

  it('offers unacked messages again after a reconnect, and never acked ones', async () => {
    const peer = api.backend.addPeer();
    const [a, b, c] = ['a', 'b', 'c'].map((t) => api.backend.deliver(peer, t));
    const firstRun = await take(api.client.receive(), 4);
    expect(firstRun).toHaveLength(4);
    await api.client.ack([a?.messageId ?? '', b?.messageId ?? '']);
    const secondRun = await take(api.client.receive(), 2);
    expect(secondRun).toEqual([{ kind: 'message', message: c }, { kind: 'caughtUp', cursor: 0 }]);
    await api.client.ack([c?.messageId ?? '']);
    expect(await take(api.client.receive(), 1)).toEqual([{ kind: 'caughtUp', cursor: 0 }]);
  });

  it('resumes after a cursor', async () => {
    const peer = api.backend.addPeer();
    const [, b, c] = ['a', 'b', 'c'].map((t) => api.backend.deliver(peer, t));
    const events = await take(api.client.receive({ cursor: b?.cursor ?? 0 }), 2);
    expect(events).toEqual([{ kind: 'message', message: c }, { kind: 'caughtUp', cursor: b?.cursor }]);
  });

  it('unsubscribes from the backend when the client cancels', async () => {
    const controller = new AbortController();
    const iter = api.client.receive({ signal: controller.signal });
    await iter.next();
    expect(api.backend.subscriberCount).toBe(1);
    const pending = iter.next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    await eventually(() => api.backend.subscriberCount === 0);
    expect(api.backend.subscriberCount).toBe(0);
  });

  it('unsubscribes when the consumer breaks out of the loop', async () => {
    await take(api.client.receive(), 1);
    await eventually(() => api.backend.subscriberCount === 0);
    expect(api.backend.subscriberCount).toBe(0);
  });

  it('refuses a failing subscription with its status', async () => {
    api.backend.failWith = new ApiError('NotReady', 'starting');
    const err = await rejection(take(api.client.receive(), 1));
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.errorCode).toBe('NotReady');
  });

  it('replays a large inbox in full (the replay does not count as a slow consumer)', async () => {
    const peer = api.backend.addPeer();
    const count = MAX_PENDING_EVENTS_PER_STREAM + 500;
    for (let i = 0; i < count; i++) api.backend.deliver(peer, `m${i}`);
    const events = await take(api.client.receive(), count + 1);
    expect(events.at(-1)).toEqual({ kind: 'caughtUp', cursor: 0 });
    expect(events.filter((e) => e.kind === 'message')).toHaveLength(count);
  });

  it('cuts off a stream whose live events pile up with RESOURCE_EXHAUSTED', async () => {
    const peer = api.backend.addPeer();
    const iter = api.client.receive();
    await iter.next();
    const failure = rejection(take(iter, MAX_PENDING_EVENTS_PER_STREAM * 2));
    for (let i = 0; i < MAX_PENDING_EVENTS_PER_STREAM + 10; i++) api.backend.deliver(peer, `m${i}`);
    const err = await failure;
    expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(err.errorCode).toBe('SlowConsumer');
    expect(api.backend.subscriberCount).toBe(0);
  });

  it('ends open streams with UNAVAILABLE when the server closes', async () => {
    const iter = api.client.receive();
    await iter.next();
    const failure = rejection(iter.next());
    await api.server.close();
    const err = await failure;
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.errorCode).toBe('NotReady');
    expect(api.backend.subscriberCount).toBe(0);
    await expect(stat(api.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
