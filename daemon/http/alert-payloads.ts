/**
 * The two alert webhook payloads the intake reads, as JSON Schemas (fastify validates them; extra
 * fields their senders add in later versions are accepted) and as AlertNotifications:
 *  - Prometheus Alertmanager's webhook_config payload, version "4" (the only version it has sent
 *    since 0.7; another version is refused, INVALID_ARGUMENT);
 *  - Grafana's webhook contact point payload (unified alerting): Alertmanager's shape plus
 *    dashboard, panel and silence links and the evaluated values.
 */
import { ApiError } from '../api/errors.ts';
import type { AlertItem, AlertNotification, Labels } from './alert-format.ts';

/** Alerts accepted in one payload (Alertmanager's max_alerts is unlimited by default). */
export const MAX_ALERTS_PER_PAYLOAD = 10_000;

const labelMap = { type: 'object', additionalProperties: { type: 'string' } };
const status = { type: 'string', enum: ['firing', 'resolved'] };

const alertItem = (extra: Record<string, unknown>): Record<string, unknown> => ({
  type: 'object',
  required: ['status'],
  properties: { status, labels: labelMap, annotations: labelMap, startsAt: { type: 'string' }, endsAt: { type: 'string' }, generatorURL: { type: 'string' }, fingerprint: { type: 'string' }, ...extra },
});

const payload = (description: string, extraAlert: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> => ({
  type: 'object',
  description,
  required: ['status', 'alerts'],
  properties: {
    version: { type: 'string' },
    status,
    receiver: { type: 'string' },
    groupKey: { type: 'string' },
    truncatedAlerts: { type: 'integer', minimum: 0 },
    groupLabels: labelMap,
    commonLabels: labelMap,
    commonAnnotations: labelMap,
    externalURL: { type: 'string' },
    alerts: { type: 'array', maxItems: MAX_ALERTS_PER_PAYLOAD, items: alertItem(extraAlert) },
    ...extra,
  },
});

export const ALERTMANAGER_PAYLOAD_SCHEMA = payload('Prometheus Alertmanager webhook payload, version 4', {}, {});
(ALERTMANAGER_PAYLOAD_SCHEMA['required'] as string[]).push('version');

export const GRAFANA_PAYLOAD_SCHEMA = payload(
  'Grafana webhook contact point payload',
  { dashboardURL: { type: 'string' }, panelURL: { type: 'string' }, silenceURL: { type: 'string' }, valueString: { type: 'string' } },
  { title: { type: 'string' }, message: { type: 'string' }, state: { type: 'string' }, orgId: { type: 'integer' } },
);

interface PayloadAlert {
  status: 'firing' | 'resolved';
  labels?: Labels;
  annotations?: Labels;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
  dashboardURL?: string;
  panelURL?: string;
  silenceURL?: string;
  valueString?: string;
}

export interface AlertPayload {
  version?: string;
  status: 'firing' | 'resolved';
  truncatedAlerts?: number;
  commonLabels?: Labels;
  externalURL?: string;
  alerts: PayloadAlert[];
}

function item(a: PayloadAlert, links: Array<readonly [string, string]>): AlertItem {
  return {
    status: a.status,
    labels: a.labels ?? {},
    annotations: a.annotations ?? {},
    ...(a.startsAt === undefined ? {} : { startsAt: a.startsAt }),
    ...(a.endsAt === undefined ? {} : { endsAt: a.endsAt }),
    ...(a.valueString === undefined ? {} : { value: a.valueString }),
    links,
  };
}

function base(p: AlertPayload, source: string, alerts: AlertItem[]): AlertNotification {
  return {
    source,
    ...(p.externalURL === undefined ? {} : { sourceUrl: p.externalURL }),
    status: p.status,
    commonLabels: p.commonLabels ?? {},
    alerts,
    truncated: p.truncatedAlerts ?? 0,
  };
}

export function fromAlertmanager(p: AlertPayload): AlertNotification {
  if (p.version !== '4') throw new ApiError('InvalidArgument', `Alertmanager payload version ${JSON.stringify(p.version ?? '').slice(0, 20)} is not supported (version 4 is)`);
  return base(p, 'Alertmanager', p.alerts.map((a) => item(a, a.generatorURL === undefined ? [] : [['Source', a.generatorURL]])));
}

export function fromGrafana(p: AlertPayload): AlertNotification {
  const links = (a: PayloadAlert): Array<readonly [string, string]> =>
    ([['Source', a.generatorURL], ['Dashboard', a.dashboardURL], ['Panel', a.panelURL], ['Silence', a.silenceURL]] as const).flatMap(([label, url]) => (url === undefined || url === '' ? [] : [[label, url] as const]));
  return base(p, 'Grafana', p.alerts.map((a) => item(a, links(a))));
}
