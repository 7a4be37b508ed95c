/**
 * One readable text message per alert notification (Alertmanager's webhook, Grafana's): a header
 * in Alertmanager's own style — `[FIRING:2] HighLatency, DiskFull` — the labels all alerts share,
 * then each alert with the labels that tell it apart, its summary and description, since when it
 * fires (or when it resolved) and its links, then the sender's link. Bounded: at most
 * MAX_ALERTS_LISTED alerts and MAX_FIELD_CHARS per field, and never more than a message body holds.
 */
import { MAX_MESSAGE_BODY_BYTES } from '../../core/content.ts';

/** Alerts written out in one message; the rest are counted ("… and 12 more"). */
export const MAX_ALERTS_LISTED = 20;
/** Characters kept of one label value, annotation or URL. */
export const MAX_FIELD_CHARS = 1000;

export type Labels = Readonly<Record<string, string>>;

export interface AlertItem {
  status: 'firing' | 'resolved';
  labels: Labels;
  annotations: Labels;
  startsAt?: string;
  endsAt?: string;
  /** Labelled links, e.g. ["Source", generatorURL], ["Dashboard", …]. */
  links: ReadonlyArray<readonly [string, string]>;
  /** Grafana's evaluated values, e.g. "[ var='A' value=97 ]". */
  value?: string;
}

export interface AlertNotification {
  /** Who sent it ("Alertmanager", "Grafana") and its link (externalURL). */
  source: string;
  sourceUrl?: string;
  status: 'firing' | 'resolved';
  commonLabels: Labels;
  alerts: readonly AlertItem[];
  /** Alerts the sender left out of the payload (Alertmanager's truncatedAlerts). */
  truncated: number;
}

/** Labels that name the alert rather than describe it. */
const NAME_LABEL = 'alertname';

function clip(s: string, max = MAX_FIELD_CHARS): string {
  const oneLine = s.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

function labelList(labels: Labels, skip: Labels = {}): string {
  return Object.keys(labels)
    .filter((k) => k !== NAME_LABEL && skip[k] !== labels[k])
    .sort()
    .map((k) => `${k}=${clip(labels[k] ?? '', 200)}`)
    .join(', ');
}

/** "2024-05-01 12:00:00 UTC", or undefined for Alertmanager's zero time and anything unparsable. */
export function readableTime(iso: string | undefined): string | undefined {
  if (iso === undefined || iso === '' || iso.startsWith('0001-')) return undefined;
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return undefined;
  return `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function alertName(a: AlertItem): string {
  return clip(a.labels[NAME_LABEL] ?? a.annotations['summary'] ?? 'alert', 200);
}

function header(n: AlertNotification): string {
  const firing = n.alerts.filter((a) => a.status === 'firing').length + (n.status === 'firing' ? n.truncated : 0);
  const resolved = n.alerts.filter((a) => a.status === 'resolved').length + (n.status === 'resolved' ? n.truncated : 0);
  const counts = [firing > 0 ? `FIRING:${firing}` : '', resolved > 0 ? `RESOLVED:${resolved}` : ''].filter((c) => c !== '').join(', ');
  const names = [...new Set(n.alerts.map(alertName))];
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length - 5} more)` : '');
  return `[${counts === '' ? n.status.toUpperCase() : counts}] ${shown === '' ? '(no alerts)' : shown}`;
}

function alertLines(a: AlertItem, common: Labels): string[] {
  const own = labelList(a.labels, common);
  const when = a.status === 'resolved' ? readableTime(a.endsAt) : readableTime(a.startsAt);
  const state = a.status === 'resolved' ? `resolved${when === undefined ? '' : ` at ${when}`}` : `firing${when === undefined ? '' : ` since ${when}`}`;
  const lines = [`• ${alertName(a)}${own === '' ? '' : ` (${own})`} — ${state}`];
  const summary = a.annotations['summary'];
  const description = a.annotations['description'] ?? a.annotations['message'];
  if (summary !== undefined && summary !== '') lines.push(`  Summary: ${clip(summary)}`);
  if (description !== undefined && description !== '') lines.push(`  Description: ${clip(description)}`);
  if (a.value !== undefined && a.value !== '') lines.push(`  Value: ${clip(a.value)}`);
  const runbook = a.annotations['runbook_url'];
  const links: Array<readonly [string, string]> = [...a.links, ...(runbook === undefined || runbook === '' ? [] : [['Runbook', runbook] as const])];
  for (const [label, url] of links) if (url !== '') lines.push(`  ${label}: ${clip(url)}`);
  return lines;
}

/** Cuts UTF-8 text to at most `maxBytes` bytes on a character boundary. */
function fitBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const marker = '\n… (truncated)';
  const cut = bytes.subarray(0, maxBytes - Buffer.byteLength(marker));
  return new TextDecoder('utf-8', { fatal: false }).decode(cut).replace(/\uFFFD$/, '') + marker;
}

export function formatAlertNotification(n: AlertNotification): string {
  const lines = [header(n)];
  const common = labelList(n.commonLabels);
  if (common !== '') lines.push(`Labels: ${common}`);
  // Firing first: that is what needs someone.
  const ordered = [...n.alerts.filter((a) => a.status === 'firing'), ...n.alerts.filter((a) => a.status !== 'firing')];
  for (const a of ordered.slice(0, MAX_ALERTS_LISTED)) lines.push('', ...alertLines(a, n.commonLabels));
  const more = Math.max(0, ordered.length - MAX_ALERTS_LISTED) + n.truncated;
  if (more > 0) lines.push('', `… and ${more} more alert${more === 1 ? '' : 's'}`);
  if (n.sourceUrl !== undefined && n.sourceUrl !== '') lines.push('', `${n.source}: ${clip(n.sourceUrl)}`);
  return fitBytes(lines.join('\n'), MAX_MESSAGE_BODY_BYTES);
}
