/**
 * Alert intake: POST /v1/alertmanager?to=USER (Prometheus Alertmanager's webhook_config) and
 * POST /v1/grafana?to=USER (Grafana's webhook contact point). Each notification becomes one
 * readable text message (alert-format.ts) sent like POST /v1/messages — the same parser and the
 * same errors — so an unknown recipient is 404, an unapproved identity change 412 and an
 * unreachable broker 503, which both senders retry. `?group=GROUP` sends to a group (404 for an
 * unknown group, 412 for one this daemon left), never anywhere else.
 * No idempotency key: a notification re-sent at repeat_interval must arrive again; a retry after a
 * lost answer may arrive twice.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../api/errors.ts';
import type { DaemonApi } from '../engine/types.ts';
import { formatAlertNotification, type AlertNotification } from './alert-format.ts';
import { ALERTMANAGER_PAYLOAD_SCHEMA, fromAlertmanager, fromGrafana, GRAFANA_PAYLOAD_SCHEMA, type AlertPayload } from './alert-payloads.ts';
import { ALERT_RESPONSE, ALERT_TARGET_QUERY } from './schemas.ts';
import { parseHttpSend, TEXT_CONTENT_TYPE } from './send-request.ts';

interface Target {
  to?: string;
  group?: string;
}

async function sendNotification(backend: DaemonApi, target: Target, n: AlertNotification): Promise<{ messageIds: string[] }> {
  if ((target.to === undefined) === (target.group === undefined)) throw new ApiError('InvalidArgument', 'give exactly one of ?to=USER and ?group=GROUP');
  const request = parseHttpSend({
    ...(target.to === undefined ? {} : { to: target.to }),
    ...(target.group === undefined ? {} : { groupId: target.group }),
    text: formatAlertNotification(n),
    contentType: TEXT_CONTENT_TYPE,
  });
  const { messageId } = await backend.send(request);
  return { messageIds: [messageId] };
}

export function registerAlertRoutes(app: FastifyInstance, backend: DaemonApi): void {
  app.post(
    '/v1/alertmanager',
    { schema: { summary: 'Prometheus Alertmanager webhook receiver (payload version 4): one message per notification', querystring: ALERT_TARGET_QUERY, body: ALERTMANAGER_PAYLOAD_SCHEMA, response: ALERT_RESPONSE } },
    async (request) => sendNotification(backend, request.query as Target, fromAlertmanager(request.body as AlertPayload)),
  );
  app.post(
    '/v1/grafana',
    { schema: { summary: 'Grafana webhook contact point: one message per notification', querystring: ALERT_TARGET_QUERY, body: GRAFANA_PAYLOAD_SCHEMA, response: ALERT_RESPONSE } },
    async (request) => sendNotification(backend, request.query as Target, fromGrafana(request.body as AlertPayload)),
  );
}
