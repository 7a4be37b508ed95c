/**
 * Alert intake end to end: Debian's prometheus-alertmanager, configured with a webhook receiver
 * pointing at a daemon's POST /v1/alertmanager?to=BOT (bearer token from the daemon's token file,
 * as the README's `receivers:` snippet says), is fed an alert through its own API; the bot — a
 * second daemon's gRPC Receive stream, through the broker — gets one readable message when it
 * fires and another when it resolves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnReady, stopProcess, type ReadyProcess } from '../bots/harness/process.ts';
import { connectMessenger, type MessengerClient } from '../daemon/api/client.ts';
import { startAlertmanager, type RunningAlertmanager } from './fixtures/alertmanager-process.ts';

const BIN = new URL('../bin/ratchetd.mjs', import.meta.url).pathname;
const procs: ReadyProcess[] = [];
let alertmanager: RunningAlertmanager | undefined;
let client: MessengerClient | undefined;
let abort: AbortController | undefined;
let root = '';

afterEach(async () => {
  abort?.abort();
  client?.close();
  await alertmanager?.stop();
  await Promise.all(procs.splice(0).map((p) => stopProcess(p)));
  if (root !== '') await rm(root, { recursive: true, force: true });
});

async function spawn(args: string[], name: string): Promise<ReadyProcess> {
  const p = await spawnReady(process.execPath, [BIN, ...args, '--log-level', 'warn'], { name, readyTimeoutMs: 45_000 });
  procs.push(p);
  return p;
}

describe('Prometheus Alertmanager → ratchetd', () => {
  it('a fired and then resolved alert reach a bot as readable messages', async () => {
    root = await mkdtemp(join(tmpdir(), 'ratchetd-alertmanager-'));
    const broker = await spawn(['broker', '--port', '0', '--data', join(root, 'broker')], 'broker');
    const brokerUrl = String(broker.ready['mqtt']);
    const intake = await spawn(['daemon', '--data', join(root, 'alerts'), '--broker', brokerUrl, '--socket', join(root, 'alerts', 'api.sock'), '--http', '127.0.0.1:0'], 'intake');
    const bot = await spawn(['daemon', '--data', join(root, 'bot'), '--broker', brokerUrl, '--socket', join(root, 'bot', 'api.sock')], 'bot');
    const botUserId = String(bot.ready['userId']);

    client = connectMessenger({ socketPath: String(bot.ready['socket']) });
    abort = new AbortController();
    const texts: string[] = [];
    let wake: () => void = () => undefined;
    const stream = (async () => {
      for await (const e of client!.receive({ signal: abort!.signal })) {
        if (e.kind !== 'message') continue;
        texts.push(new TextDecoder().decode(e.message.body));
        await client!.ack([e.message.messageId]);
        wake();
      }
    })().catch(() => undefined);
    const messages = async (n: number): Promise<string[]> => {
      while (texts.length < n) await new Promise<void>((resolve) => (wake = resolve));
      return texts;
    };

    alertmanager = await startAlertmanager(
      root,
      [
        'route:',
        '  receiver: ratchetd',
        "  group_by: ['alertname']",
        '  group_wait: 100ms',
        '  group_interval: 1s',
        '  repeat_interval: 1h',
        'receivers:',
        '  - name: ratchetd',
        '    webhook_configs:',
        `      - url: '${String(intake.ready['http'])}/v1/alertmanager?to=${botUserId}'`,
        '        send_resolved: true',
        '        http_config:',
        '          authorization:',
        `            credentials_file: '${join(root, 'alerts', 'http.token')}'`,
        '',
      ].join('\n'),
    );
    const alert = {
      labels: { alertname: 'DiskFull', severity: 'critical', instance: 'db-1:9100' },
      annotations: { summary: 'Disk / is 97% full', description: 'Only 3% left on db-1.' },
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=disk',
    };
    await alertmanager.postAlerts([{ ...alert, startsAt: new Date().toISOString() }]);
    const [fired] = await messages(1);
    expect(fired).toMatch(/^\[FIRING:1\] DiskFull\n/);
    expect(fired).toContain('instance=db-1:9100');
    expect(fired).toContain('severity=critical');
    expect(fired).toContain('Summary: Disk / is 97% full');
    expect(fired).toContain('Description: Only 3% left on db-1.');
    expect(fired).toContain('Source: http://prometheus.example:9090/graph?g0.expr=disk');
    expect(fired).toContain(`Alertmanager: ${alertmanager.url}`);

    await alertmanager.postAlerts([{ ...alert, startsAt: new Date(Date.now() - 60_000).toISOString(), endsAt: new Date(Date.now() - 1_000).toISOString() }]);
    const [, resolved] = await messages(2);
    expect(resolved).toMatch(/^\[RESOLVED:1\] DiskFull\n/);
    expect(resolved).toContain('— resolved at ');
    abort.abort();
    await stream;
  });
});
