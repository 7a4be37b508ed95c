/**
 * The Messenger service over a MessengerBackend: validate the request (validate.ts), call the
 * backend, convert the result (wire.ts), and map any failure to a gRPC status (status-codes.ts).
 * Every unary handler answers exactly once; a Receive stream ends exactly once, on client cancel,
 * on a backend failure, on a client too slow to read, or at server shutdown. A SendStream runs each
 * request through the same path as Send and answers it with one result (a failed send is a result,
 * not the end of the stream); it ends when the client has ended its side and every request is
 * answered, on a request it cannot read, on client cancel, or at server shutdown.
 */
import type * as grpc from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { DaemonEvent, MessengerBackend } from './backend.ts';
import { ApiError } from './errors.ts';
import { createFileHandlers } from './file-handlers.ts';
import { mapError, toServiceError } from './status-codes.ts';
import { systemTimers, type Timer, type Timers } from './timers.ts';
import {
  parseCreateGroupRequest,
  parseCursor,
  parseDeadLetterLimit,
  parseGroupIdRequest,
  parseGroupMembersRequest,
  parseMessageIds,
  parseRedriveRequest,
  parseRequestId,
  parseSendRequest,
  parseVerifyContactRequest,
} from './validate.ts';
import { contactToWire, deadLetterToWire, eventToWire, groupToWire, identityToWire, statusToWire, type ApiEvent, type WireEvent, type WireSendStreamResultOut } from './wire.ts';

export type ApiLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/**
 * Live events buffered for one Receive stream before the client is judged too slow and cut off
 * (it may reconnect: unacked messages are replayed). The replay does not count against it: it is
 * paced by the transport instead (the engine hands on the next stored message only when the
 * stream has drained), so a large inbox is read at the client's speed and never buffered whole.
 */
export const MAX_PENDING_EVENTS_PER_STREAM = 10_000;

/**
 * Requests one SendStream works on at once: read and not yet answered on the transport (sends
 * running, results not yet flushed). At the limit the handler stops reading; HTTP/2 flow control
 * then holds the client.
 */
export const MAX_SENDS_IN_FLIGHT_PER_STREAM = 1024;

/**
 * How long a SendStream that must end (server shutdown, a request it cannot read) waits for the
 * sends it started before it ends anyway. Below the server's shutdown grace period: a stream must
 * not hold up shutdown, and grpc-js' forced shutdown does not cut open calls while channelz is off.
 */
export const SEND_STREAM_DRAIN_MS = 1_500;

/**
 * What the service's request deserializers return for bytes that are not a protobuf message of the
 * method's type (grpc-js would otherwise answer INTERNAL): the handler refuses it as InvalidArgument.
 */
export class UndecodableRequest {
  constructor(readonly method: string) {}
}

/** The service definition with deserializers that never throw (see UndecodableRequest). */
export function withTolerantDeserializers(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const deserialize = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return deserialize(bytes);
        } catch {
          return new UndecodableRequest(name);
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

function refuseUndecodable(request: unknown): void {
  if (request instanceof UndecodableRequest) {
    throw new ApiError('InvalidArgument', `the request is not a valid ratchetd.v1 ${request.method} request (protobuf decoding failed)`);
  }
}

/** Open Receive and SendStream calls, so that shutdown can end them. */
export class OpenStreams {
  private readonly open = new Set<(reason: ApiError) => void>();
  add(end: (reason: ApiError) => void): () => void {
    this.open.add(end);
    return () => this.open.delete(end);
  }
  endAll(reason: ApiError): void {
    for (const end of [...this.open]) end(reason);
  }
  get size(): number {
    return this.open.size;
  }
}

function logFailure(logger: ApiLogger, method: string, e: unknown): void {
  const mapped = mapError(e);
  if (mapped.code === GrpcStatus.INTERNAL || mapped.code === GrpcStatus.DATA_LOSS) {
    logger.error({ err: e, method }, 'API call failed');
  } else {
    logger.debug({ method, code: mapped.errorCode, status: GrpcStatus[mapped.code] }, 'API call refused');
  }
}

function unary<Res>(logger: ApiLogger, method: string, run: (request: unknown) => Promise<Res>): grpc.handleUnaryCall<unknown, Res> {
  return (call, callback) => {
    // run is async: a validation failure rejects too, so exactly one of the two branches answers.
    Promise.resolve(call.request)
      .then((request) => {
        refuseUndecodable(request);
        return run(request);
      })
      .then(
      (response) => callback(null, response),
      (e: unknown) => {
        logFailure(logger, method, e);
        return callback(toServiceError(e));
      },
    );
  };
}

function receive(backend: MessengerBackend, logger: ApiLogger, streams: OpenStreams): grpc.handleServerStreamingCall<unknown, WireEvent> {
  return (call) => {
    let cursor: number;
    try {
      refuseUndecodable(call.request);
      cursor = parseCursor(call.request);
    } catch (e) {
      logFailure(logger, 'Receive', e);
      call.emit('error', toServiceError(e));
      return;
    }
    let ended = false;
    let unsubscribe: (() => void) | undefined;
    const replayAbort = new AbortController(); // ends a replay waiting for room
    const release = (): void => {
      ended = true;
      forget();
      replayAbort.abort();
      unsubscribe?.();
      unsubscribe = undefined;
    };
    const fail = (e: unknown): void => {
      if (ended) return;
      release();
      logFailure(logger, 'Receive', e);
      call.emit('error', toServiceError(e));
    };
    const forget = streams.add(fail);
    let replaying = true;
    const write = (event: ApiEvent): void => {
      if (ended) return;
      if (!replaying && call.writableLength >= MAX_PENDING_EVENTS_PER_STREAM) {
        return fail(new ApiError('SlowConsumer', 'Receive stream cut off: the client reads too slowly; reconnect to resume (unacked messages are replayed)'));
      }
      call.write(eventToWire(event));
    };
    /** Replay flow control: resolves when the transport wants more (or the stream has ended). */
    const waitForRoom = (): Promise<void> | undefined => {
      if (ended || !call.writableNeedDrain) return undefined;
      return new Promise((resolve) => {
        const done = (): void => {
          call.off('drain', done);
          replayAbort.signal.removeEventListener('abort', done);
          resolve();
        };
        call.on('drain', done);
        replayAbort.signal.addEventListener('abort', done, { once: true });
      });
    };
    call.on('cancelled', release);
    call.on('close', release);
    backend.subscribe(cursor, (event: DaemonEvent) => write(event), { waitForRoom, signal: replayAbort.signal }).then(
      (stop) => {
        if (ended) return stop();
        unsubscribe = stop;
        write({ kind: 'caughtUp', cursor });
        replaying = false;
      },
      fail,
    );
  };
}

function sendStream(backend: MessengerBackend, logger: ApiLogger, streams: OpenStreams, timers: Timers): grpc.handleBidiStreamingCall<unknown, WireSendStreamResultOut> {
  return (call) => {
    const running = new Set<number>(); // request ids whose backend send has not completed
    let held = 0; // requests read and not yet answered on the transport
    let paused = false;
    let clientDone = false; // the client ended its side
    let closing: unknown; // when set: read nothing more, answer the running sends, then end with it
    let ended = false;
    let drainTimer: Timer | undefined;

    const release = (): void => {
      ended = true;
      timers.clearTimeout(drainTimer);
      forget();
    };
    const finishIfDone = (): void => {
      if (ended || running.size > 0) return;
      if (closing !== undefined) {
        release();
        logFailure(logger, 'SendStream', closing);
        call.emit('error', toServiceError(closing));
      } else if (clientDone) {
        release();
        call.end();
      }
    };
    const closeWith = (e: unknown): void => {
      if (ended || closing !== undefined) return;
      closing = e;
      call.pause();
      drainTimer = timers.setTimeout(() => {
        running.clear(); // their results, if they come, are dropped
        finishIfDone();
      }, SEND_STREAM_DRAIN_MS);
      finishIfDone();
    };
    const forget = streams.add(closeWith);
    call.on('cancelled', release);
    call.on('close', release);

    const flushed = (): void => {
      held--;
      if (paused && held < MAX_SENDS_IN_FLIGHT_PER_STREAM && closing === undefined && !ended) {
        paused = false;
        call.resume();
      }
    };
    const answer = (result: WireSendStreamResultOut): void => {
      if (!ended) call.write(result, flushed);
    };
    const refuse = (requestId: number, e: unknown): void => {
      logFailure(logger, 'SendStream', e);
      const mapped = mapError(e);
      answer({ request_id: requestId, error: { code: mapped.code, error_code: mapped.errorCode ?? '', message: mapped.details } });
    };

    call.on('data', (request: unknown) => {
      if (ended || closing !== undefined) return;
      let requestId: number;
      try {
        refuseUndecodable(request);
        requestId = parseRequestId(request);
      } catch (e) {
        return closeWith(e);
      }
      if (++held >= MAX_SENDS_IN_FLIGHT_PER_STREAM && !paused) {
        paused = true;
        call.pause();
      }
      if (running.has(requestId)) return refuse(requestId, new ApiError('InvalidArgument', `request_id ${requestId} is already in flight on this stream`));
      const send = (request as { send?: unknown }).send;
      if (send === null || send === undefined) return refuse(requestId, new ApiError('InvalidArgument', 'send is required (the SendRequest)'));
      let sending: Promise<{ messageId: string }>;
      try {
        sending = backend.send(parseSendRequest(send));
      } catch (e) {
        return refuse(requestId, e);
      }
      running.add(requestId);
      sending.then(
        ({ messageId }) => {
          running.delete(requestId);
          answer({ request_id: requestId, message_id: messageId });
          finishIfDone();
        },
        (e: unknown) => {
          running.delete(requestId);
          refuse(requestId, e);
          finishIfDone();
        },
      );
    });
    call.on('end', () => {
      clientDone = true;
      finishIfDone();
    });
  };
}

export function createMessengerHandlers(backend: MessengerBackend, logger: ApiLogger, streams: OpenStreams, timers: Timers = systemTimers): grpc.UntypedServiceImplementation {
  return {
    GetIdentity: unary(logger, 'GetIdentity', async () => identityToWire(await backend.getIdentity())),
    Send: unary(logger, 'Send', async (request) => {
      const { messageId } = await backend.send(parseSendRequest(request));
      return { message_id: messageId };
    }),
    SendStream: sendStream(backend, logger, streams, timers),
    Receive: receive(backend, logger, streams),
    Ack: unary(logger, 'Ack', async (request) => {
      await backend.ack(parseMessageIds(request));
      return {};
    }),
    ListContacts: unary(logger, 'ListContacts', async () => ({ contacts: (await backend.listContacts()).map(contactToWire) })),
    VerifyContact: unary(logger, 'VerifyContact', async (request) => {
      const { userId, safetyNumber } = parseVerifyContactRequest(request);
      return { contact: contactToWire(await backend.verifyContact(userId, safetyNumber)) };
    }),
    GetStatus: unary(logger, 'GetStatus', async () => statusToWire(await backend.getStatus())),
    ListDeadLetters: unary(logger, 'ListDeadLetters', async (request) => {
      const { deadLetters, total } = await backend.listDeadLetters(parseDeadLetterLimit(request));
      return { dead_letters: deadLetters.map(deadLetterToWire), total };
    }),
    RedriveDeadLetters: unary(logger, 'RedriveDeadLetters', async (request) => ({ message_ids: await backend.redriveDeadLetters(parseRedriveRequest(request)) })),
    ...createFileHandlers(backend, logger, streams),
    CreateGroup: unary(logger, 'CreateGroup', async (request) => {
      const { name, members } = parseCreateGroupRequest(request);
      return groupToWire(await backend.createGroup(name, members));
    }),
    AddMembers: unary(logger, 'AddMembers', async (request) => {
      const { groupId, members } = parseGroupMembersRequest(request);
      return groupToWire(await backend.addMembers(groupId, members));
    }),
    RemoveMembers: unary(logger, 'RemoveMembers', async (request) => {
      const { groupId, members } = parseGroupMembersRequest(request);
      return groupToWire(await backend.removeMembers(groupId, members));
    }),
    LeaveGroup: unary(logger, 'LeaveGroup', async (request) => {
      await backend.leaveGroup(parseGroupIdRequest(request));
      return {};
    }),
    RotateGroupKey: unary(logger, 'RotateGroupKey', async (request) => ({ key_id: (await backend.rotateGroupKey(parseGroupIdRequest(request))).keyId })),
    ListGroups: unary(logger, 'ListGroups', async () => ({ groups: (await backend.listGroups()).map(groupToWire) })),
  };
}
