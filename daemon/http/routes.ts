/**
 * The HTTP API's routes, one per gRPC call (plus the alert intakes, alert-routes.ts): each takes
 * its JSON request apart into the shape the gRPC handler receives, runs it through the same parser
 * (daemon/api/validate.ts), calls the same DaemonApi method and answers with json.ts's shapes.
 * Failures are thrown and answered by the server's error handler (server.ts) with the status that
 * status-codes.ts gives the error's code.
 */
import type { FastifyInstance } from 'fastify';
import type { OpenStreams } from '../api/handlers.ts';
import type { Timers } from '../api/timers.ts';
import { ApiError } from '../api/errors.ts';
import { parseCursor, parseDeadLetterLimit, parseMessageIds, parseRedriveRequest, parseVerifyContactRequest, MAX_ACK_IDS } from '../api/validate.ts';
import type { DaemonApi } from '../engine/types.ts';
import { streamEvents } from './events-stream.ts';
import { contactJson, deadLetterJson, identityJson, messageJson, statusJson } from './json.ts';
import { DEFAULT_POLL_LIMIT, MAX_LONG_POLL_WAIT_S, pollMessages } from './long-poll.ts';
import { ROUTE_SCHEMAS } from './schemas.ts';
import { parseHttpSend, type HttpSendBody } from './send-request.ts';

export interface RouteDeps {
  backend: DaemonApi;
  timers: Timers;
  /** Open long polls and event streams, ended at shutdown. */
  streams: OpenStreams;
  /** A call failed: logged by the server. */
  onFailure: (route: string, e: unknown) => void;
}

interface PollQuery {
  cursor?: number;
  wait?: number;
  limit?: number;
}

function pollLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_POLL_LIMIT;
  if (limit > MAX_ACK_IDS) throw new ApiError('InvalidArgument', `limit is at most ${MAX_ACK_IDS}`);
  return limit;
}

function pollWaitMs(wait: number | undefined): number {
  if (wait === undefined) return 0;
  if (wait > MAX_LONG_POLL_WAIT_S) throw new ApiError('InvalidArgument', `wait is at most ${MAX_LONG_POLL_WAIT_S} seconds`);
  return wait * 1000;
}

/** `Last-Event-ID` (an EventSource resuming) wins over `?cursor=`. */
function eventsCursor(lastEventId: string | string[] | undefined, queryCursor: number | undefined): number {
  const header = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  if (header !== undefined && header.trim() !== '') {
    if (!/^\d+$/.test(header.trim())) throw new ApiError('InvalidArgument', 'Last-Event-ID must be a message cursor (an integer)');
    return parseCursor({ cursor: header.trim() });
  }
  return parseCursor({ cursor: queryCursor });
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { backend } = deps;

  app.get('/v1/identity', { schema: ROUTE_SCHEMAS.identity }, async () => identityJson(await backend.getIdentity()));

  app.post('/v1/messages', { schema: ROUTE_SCHEMAS.send }, async (request) => backend.send(parseHttpSend(request.body as HttpSendBody)));

  app.get('/v1/messages', { schema: ROUTE_SCHEMAS.messages }, async (request) => {
    const q = request.query as PollQuery;
    const cursor = parseCursor({ cursor: q.cursor });
    const limit = pollLimit(q.limit);
    const waitMs = pollWaitMs(q.wait);
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    request.raw.socket.once('close', onClose);
    const forget = deps.streams.add(() => gone.abort());
    try {
      const messages = await pollMessages(backend, { cursor, limit, waitMs }, deps.timers, gone.signal);
      return { messages: messages.map(messageJson), cursor: messages.at(-1)?.cursor ?? cursor };
    } finally {
      forget();
      request.raw.socket.off('close', onClose);
    }
  });

  app.get('/v1/events', { schema: ROUTE_SCHEMAS.events, sse: { kind: 'manual' } }, async (request, reply) => {
    const cursor = eventsCursor(request.headers['last-event-id'], (request.query as { cursor?: number }).cursor);
    await streamEvents({ backend, streams: deps.streams, onFailure: (e) => deps.onFailure('GET /v1/events', e) }, cursor, reply.sse, reply.raw);
  });

  app.post('/v1/ack', { schema: ROUTE_SCHEMAS.ack }, async (request) => {
    await backend.ack(parseMessageIds({ message_ids: (request.body as { messageIds: unknown }).messageIds }));
    return {};
  });

  app.get('/v1/contacts', { schema: ROUTE_SCHEMAS.contacts }, async () => ({ contacts: (await backend.listContacts()).map(contactJson) }));

  app.post('/v1/contacts/:userId/verify', { schema: ROUTE_SCHEMAS.verify }, async (request) => {
    const { userId, safetyNumber } = parseVerifyContactRequest({
      user_id: (request.params as { userId: string }).userId,
      safety_number: (request.body as { safetyNumber: unknown }).safetyNumber,
    });
    return { contact: contactJson(await backend.verifyContact(userId, safetyNumber)) };
  });

  app.get('/v1/status', { schema: ROUTE_SCHEMAS.status }, async () => statusJson(await backend.getStatus()));

  app.get('/v1/dead-letters', { schema: ROUTE_SCHEMAS.deadLetters }, async (request) => {
    const { deadLetters, total } = await backend.listDeadLetters(parseDeadLetterLimit({ limit: (request.query as { limit?: number }).limit }));
    return { deadLetters: deadLetters.map(deadLetterJson), total };
  });

  app.post('/v1/dead-letters/redrive', { schema: ROUTE_SCHEMAS.redrive }, async (request) => ({
    messageIds: await backend.redriveDeadLetters(parseRedriveRequest({ message_ids: (request.body as { messageIds?: unknown } | undefined)?.messageIds })),
  }));
}
