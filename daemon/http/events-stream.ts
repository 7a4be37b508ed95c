/**
 * GET /v1/events: server-sent events over the same subscription as the gRPC Receive stream — every
 * unacked message after the cursor (replay), one `caughtUp` event, then live events. Message events
 * carry `id: <cursor>`, so an EventSource that reconnects sends `Last-Event-ID` and resumes after
 * the last message it saw (the header wins over `?cursor=`). The replay is paced by the socket (the
 * engine hands on the next stored message only once the response has drained); live events are
 * never held back, and a client that leaves more than MAX_PENDING_EVENT_BYTES unread is cut off
 * with an `error` event (RESOURCE_EXHAUSTED): it reconnects and resumes, unacked messages are
 * replayed. Acks go through POST /v1/ack, as on gRPC. At server shutdown the stream ends with an
 * `error` event (UNAVAILABLE).
 */
import type { SSEReplyInterface } from '@fastify/sse';
import type { ServerResponse } from 'node:http';
import { ApiError } from '../api/errors.ts';
import type { OpenStreams } from '../api/handlers.ts';
import { mapHttpError } from '../api/status-codes.ts';
import type { ApiEvent } from '../api/wire.ts';
import type { DaemonApi, DaemonEvent } from '../engine/types.ts';
import { eventJson } from './json.ts';

/** Unread bytes a live stream may leave in its socket buffer before it is cut off. */
export const MAX_PENDING_EVENT_BYTES = 8 * 1024 * 1024;

export interface EventStreamDeps {
  backend: DaemonApi;
  streams: OpenStreams;
  onFailure: (e: unknown) => void;
}

/**
 * Streams until the client leaves, the server closes or the subscription fails. Rejects (before
 * anything was written, so the caller answers with a JSON error) when the subscription cannot start.
 */
export function streamEvents(deps: EventStreamDeps, cursor: number, sse: SSEReplyInterface, raw: ServerResponse): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let ended = false;
    let started = false; // the subscription is up (errors from now on end the stream, not the request)
    let replaying = true;
    let unsubscribe: (() => void) | undefined;
    const replayAbort = new AbortController();
    const finish = (): void => {
      if (ended) return;
      ended = true;
      forget();
      replayAbort.abort();
      unsubscribe?.();
      unsubscribe = undefined;
      resolve();
    };
    const fail = (e: unknown): void => {
      if (ended) return;
      deps.onFailure(e);
      if (!started) {
        ended = true;
        forget();
        replayAbort.abort();
        return reject(e);
      }
      void sse.send({ data: { type: 'error', error: mapHttpError(e).body } }).catch(() => undefined);
      // The server ends this stream: the connection goes with it (a client reconnects on a new one),
      // so that a closing server does not wait for the client to drop an idle keep-alive connection.
      const socket = raw.socket; // detached from the response when it finishes
      raw.once('finish', () => socket?.destroySoon());
      finish();
    };
    const forget = deps.streams.add(fail);
    raw.on('close', finish);
    const write = (event: ApiEvent): void => {
      if (ended) return;
      if (!replaying && raw.writableLength >= MAX_PENDING_EVENT_BYTES) {
        return fail(new ApiError('SlowConsumer', 'event stream cut off: the client reads too slowly; reconnect to resume (unacked messages are replayed)'));
      }
      const data = eventJson(event);
      void sse.send(event.kind === 'message' ? { id: String(event.message.cursor), data } : { data }).catch(finish);
    };
    const waitForRoom = (): Promise<void> | undefined => {
      if (ended || !raw.writableNeedDrain) return undefined;
      return new Promise((done) => {
        const go = (): void => {
          raw.off('drain', go);
          replayAbort.signal.removeEventListener('abort', go);
          done();
        };
        raw.on('drain', go);
        replayAbort.signal.addEventListener('abort', go, { once: true });
      });
    };
    const onEvent = (event: DaemonEvent): void => {
      started = true;
      write(event);
    };
    deps.backend.subscribe(cursor, onEvent, { waitForRoom, signal: replayAbort.signal }).then((stop) => {
      started = true;
      if (ended) return stop();
      unsubscribe = stop;
      write({ kind: 'caughtUp', cursor });
      replaying = false;
    }, fail);
  });
}
