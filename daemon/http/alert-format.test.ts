/**
 * Alert notifications become one readable message each: Alertmanager's payload (version 4) and
 * Grafana's, with status, alert names, the labels that matter, summary and description, times and
 * links; bounded in size; other Alertmanager payload versions refused.
 */
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BODY_BYTES } from '../../core/content.ts';
import { formatAlertNotification, MAX_ALERTS_LISTED } from './alert-format.ts';
import { fromAlertmanager, fromGrafana, type AlertPayload } from './alert-payloads.ts';

const firing: AlertPayload = {
  version: '4',
  status: 'firing',
  commonLabels: { alertname: 'HighLatency', job: 'api', severity: 'critical' },
  externalURL: 'http://alertmanager:9093',
  alerts: [
    {
      status: 'firing',
      labels: { alertname: 'HighLatency', job: 'api', severity: 'critical', instance: 'web-1:9100' },
      annotations: { summary: 'p99 latency above 500 ms', description: 'web-1 answers slowly\nsince the deploy.', runbook_url: 'https://runbooks/latency' },
      startsAt: '2024-05-01T12:00:00.123Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph?g0.expr=latency',
    },
    {
      status: 'firing',
      labels: { alertname: 'HighLatency', job: 'api', severity: 'critical', instance: 'web-2:9100' },
      annotations: { summary: 'p99 latency above 500 ms' },
      startsAt: '2024-05-01T12:01:00Z',
    },
  ],
};

describe('Alertmanager notifications', () => {
  it('a firing group: header, shared labels once, each alert with its own labels, annotations, time and links', () => {
    expect(formatAlertNotification(fromAlertmanager(firing))).toBe(
      [
        '[FIRING:2] HighLatency',
        'Labels: job=api, severity=critical',
        '',
        '• HighLatency (instance=web-1:9100) — firing since 2024-05-01 12:00:00 UTC',
        '  Summary: p99 latency above 500 ms',
        '  Description: web-1 answers slowly since the deploy.',
        '  Source: http://prometheus:9090/graph?g0.expr=latency',
        '  Runbook: https://runbooks/latency',
        '',
        '• HighLatency (instance=web-2:9100) — firing since 2024-05-01 12:01:00 UTC',
        '  Summary: p99 latency above 500 ms',
        '',
        'Alertmanager: http://alertmanager:9093',
      ].join('\n'),
    );
  });

  it('resolved and mixed groups say so, firing alerts first', () => {
    const mixed: AlertPayload = {
      version: '4',
      status: 'firing',
      commonLabels: {},
      alerts: [
        { status: 'resolved', labels: { alertname: 'DiskFull', host: 'db' }, endsAt: '2024-05-01T13:00:00Z' },
        { status: 'firing', labels: { alertname: 'Down', host: 'web' } },
      ],
    };
    const text = formatAlertNotification(fromAlertmanager(mixed));
    expect(text.split('\n')[0]).toBe('[FIRING:1, RESOLVED:1] DiskFull, Down');
    expect(text.indexOf('• Down (host=web) — firing')).toBeLessThan(text.indexOf('• DiskFull (host=db) — resolved at 2024-05-01 13:00:00 UTC'));
    const resolved = formatAlertNotification(fromAlertmanager({ ...mixed, status: 'resolved', alerts: [mixed.alerts[0]!] }));
    expect(resolved.split('\n')[0]).toBe('[RESOLVED:1] DiskFull');
  });

  it('lists at most MAX_ALERTS_LISTED alerts, counts the rest and the truncated ones, and fits a message', () => {
    const many: AlertPayload = {
      version: '4',
      status: 'firing',
      truncatedAlerts: 5,
      alerts: Array.from({ length: MAX_ALERTS_LISTED + 3 }, (_, i) => ({
        status: 'firing' as const,
        labels: { alertname: `A${i}`, big: 'x'.repeat(50_000) },
        annotations: { description: 'y'.repeat(50_000) },
      })),
    };
    const text = formatAlertNotification(fromAlertmanager(many));
    expect(text.split('\n')[0]).toBe(`[FIRING:${MAX_ALERTS_LISTED + 3 + 5}] A0, A1, A2, A3, A4, … (${MAX_ALERTS_LISTED - 2} more)`);
    expect(text).toContain('… and 8 more alerts');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_MESSAGE_BODY_BYTES);
  });

  it('refuses payload versions other than 4', () => {
    expect(() => fromAlertmanager({ ...firing, version: '3' })).toThrow(/version "3" is not supported/);
    const { version: _v, ...noVersion } = firing;
    expect(() => fromAlertmanager(noVersion)).toThrow(/not supported/);
  });
});

describe('Grafana notifications', () => {
  it('read like Alertmanager ones, with the dashboard, panel and silence links and the values', () => {
    const text = formatAlertNotification(
      fromGrafana({
        version: '1',
        status: 'firing',
        externalURL: 'http://grafana:3000/',
        commonLabels: { alertname: 'CPU', grafana_folder: 'infra' },
        alerts: [
          {
            status: 'firing',
            labels: { alertname: 'CPU', grafana_folder: 'infra', host: 'h1' },
            annotations: { summary: 'CPU above 90%' },
            startsAt: '2024-05-01T12:00:00Z',
            generatorURL: 'http://grafana:3000/alerting/grafana/abc/view',
            dashboardURL: 'http://grafana:3000/d/xyz',
            panelURL: 'http://grafana:3000/d/xyz?viewPanel=2',
            silenceURL: 'http://grafana:3000/alerting/silence/new',
            valueString: "[ var='A' labels={host=h1} value=97 ]",
          },
        ],
      }),
    );
    expect(text).toBe(
      [
        '[FIRING:1] CPU',
        'Labels: grafana_folder=infra',
        '',
        '• CPU (host=h1) — firing since 2024-05-01 12:00:00 UTC',
        '  Summary: CPU above 90%',
        "  Value: [ var='A' labels={host=h1} value=97 ]",
        '  Source: http://grafana:3000/alerting/grafana/abc/view',
        '  Dashboard: http://grafana:3000/d/xyz',
        '  Panel: http://grafana:3000/d/xyz?viewPanel=2',
        '  Silence: http://grafana:3000/alerting/silence/new',
        '',
        'Grafana: http://grafana:3000/',
      ].join('\n'),
    );
  });
});
