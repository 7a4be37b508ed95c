/**
 * `--metrics` on a real broker and two real daemons: after a conversation, each endpoint serves
 * Prometheus text that Debian's `promtool check metrics` accepts, with ratchetd_ names, the numbers
 * the traffic implies, and no user id in any label. promtool (package prometheus) is installed by
 * .ci/run; in CI a missing promtool fails the test, elsewhere only its step is left out.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { runCli, startCli, stopCli, type Running } from '../daemon/cli/spawn-cli.ts';
import { sampleValue } from '../daemon/metrics/test-parse.ts';

const PROMTOOL = ['/usr/bin/promtool', 'promtool'].find((p) => spawnSync(p, ['--version']).status === 0);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-metrics-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function started(args: string[]): Promise<Running & { ready: Record<string, string> }> {
  const running = await startCli([...args, '--log-level', 'warn']);
  cleanups.push(() => stopCli(running));
  return { ...running, ready: JSON.parse(running.readyLine) as Record<string, string> };
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** Scrapes until `check` holds (the value follows an event inside another process), bounded. */
async function scrapeUntil(url: string, check: (text: string) => boolean, what: string, deadlineMs = 20_000): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const text = await scrape(url);
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `promtool check metrics` on the text: its exit code and complaints (null: no promtool here, not CI). */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string } | null> {
  if (PROMTOOL === undefined) {
    if (process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false') {
      throw new Error('promtool is missing in CI (Debian package prometheus: .ci/run installs it)');
    }
    return Promise.resolve(null);
  }
  return new Promise((done, fail) => {
    const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', fail);
    child.once('close', (code) => done({ code, output }));
    child.stdin.end(text);
  });
}

function metricNames(text: string): string[] {
  return [...new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)?.[0] ?? l))];
}

async function expectValidExposition(text: string, userIds: string[]): Promise<void> {
  const checked = await promtoolCheck(text);
  if (checked !== null) expect(checked, checked.output).toEqual({ code: 0, output: '' });
  const names = metricNames(text);
  expect(names.length).toBeGreaterThan(10);
  for (const name of names) expect(name).toMatch(/^ratchetd_/);
  for (const id of userIds) expect(text).not.toContain(id);
}

describe('--metrics: Prometheus text on the broker and the daemons', () => {
  it('serves counters and gauges that follow the traffic, accepted by promtool check metrics', async () => {
    const dir = await tempDir();
    const broker = await started(['broker', '--port', '0', '--data', join(dir, 'relay'), '--metrics', '127.0.0.1:0']);
    expect(broker.ready['metrics']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const daemon = (name: string) =>
      started(['daemon', '--data', join(dir, name), '--broker', broker.ready['mqtt'] ?? '', '--socket', join(dir, `${name}.sock`), '--metrics', '0']);
    const alice = await daemon('alice');
    const bob = await daemon('bob');
    const aliceId = alice.ready['userId'] ?? '';
    const bobId = bob.ready['userId'] ?? '';
    const ctl = (who: string, ...args: string[]) => runCli(['ctl', '--socket', join(dir, `${who}.sock`), ...args]);

    expect((await ctl('alice', 'send', bobId, 'hello bob')).code).toBe(0);
    expect((await ctl('alice', 'send', bobId, 'second')).code).toBe(0);
    const received = await scrapeUntil(bob.ready['metrics'] ?? '', (t) => sampleValue(t, 'ratchetd_messages_received_total') === 2, 'bob received 2');
    expect(sampleValue(received, 'ratchetd_inbox_messages')).toBe(2);
    expect(sampleValue(received, 'ratchetd_broker_connected')).toBe(1);
    const a = await scrapeUntil(alice.ready['metrics'] ?? '', (t) => sampleValue(t, 'ratchetd_messages_delivered_total') === 2, 'alice sees both receipts');
    expect(sampleValue(a, 'ratchetd_messages_sent_total')).toBe(2);
    expect(sampleValue(a, 'ratchetd_outbox_messages')).toBe(0);
    // ctl send goes over one SendStream per process: two ctl runs, two calls
    expect(sampleValue(a, 'ratchetd_api_calls_total', { service: 'ratchetd.v1.Messenger', method: 'SendStream', code: 'OK' })).toBe(2);
    expect(sampleValue(a, 'ratchetd_build_info', { component: 'daemon' })).toBe(1);
    expect(sampleValue(a, 'ratchetd_process_resident_memory_bytes')).toBeGreaterThan(0);
    await expectValidExposition(a, [aliceId, bobId]);
    await expectValidExposition(await scrape(bob.ready['metrics'] ?? ''), [aliceId, bobId]);

    const b = await scrape(broker.ready['metrics'] ?? '');
    expect(sampleValue(b, 'ratchetd_broker_clients')).toBe(2);
    expect(sampleValue(b, 'ratchetd_broker_publishes_total', { outcome: 'inbox' })).toBeGreaterThanOrEqual(4); // 2 messages, 2+ receipts
    expect(sampleValue(b, 'ratchetd_broker_publishes_total', { outcome: 'bundle' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(b, 'ratchetd_broker_queued_messages')).toBe(0);
    expect(sampleValue(b, 'ratchetd_build_info', { component: 'broker' })).toBe(1);
    await expectValidExposition(b, [aliceId, bobId]);

    // bob goes away: what alice sends now waits in the broker's queue, and in alice's outbox
    await stopCli(bob);
    expect((await ctl('alice', 'send', bobId, 'while you were out')).code).toBe(0);
    await scrapeUntil(broker.ready['metrics'] ?? '', (t) => sampleValue(t, 'ratchetd_broker_queued_messages') === 1 && sampleValue(t, 'ratchetd_broker_clients') === 1, 'one message queued for bob');
    const waiting = await scrape(alice.ready['metrics'] ?? '');
    expect(sampleValue(waiting, 'ratchetd_outbox_messages')).toBe(1);
    expect(sampleValue(waiting, 'ratchetd_outbox_oldest_age_seconds')).toBeGreaterThanOrEqual(0);

    // a login with a made-up proof is refused and counted by reason
    const intruder = mqtt.connect(broker.ready['mqtt'] ?? '', { clientId: bobId, username: bobId, password: 'not a proof', reconnectPeriod: 0, protocolVersion: 4 });
    await new Promise<void>((done) => intruder.once('error', () => done()).once('close', () => done()));
    intruder.end(true);
    const refused = await scrapeUntil(broker.ready['metrics'] ?? '', (t) => /ratchetd_broker_logins_refused_total\{reason="(?!ConnectionGone|ReplayedProof|TooManyLogins|InternalError)[A-Za-z]+"\} 1/.test(t), 'a refused login');
    await expectValidExposition(refused, [aliceId, bobId]);
  });

  it('answers /metrics only (404 elsewhere, 405 for POST), and a port in use is one clear line', async () => {
    const dir = await tempDir();
    const broker = await started(['broker', '--port', '0', '--data', join(dir, 'relay'), '--metrics', '0']);
    const url = new URL(broker.ready['metrics'] ?? '');
    expect((await fetch(new URL('/', url))).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    const taken = await runCli(['broker', '--port', '0', '--persistence', 'memory', '--metrics', url.port, '--log-level', 'warn']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(`ratchetd broker: --metrics: 127.0.0.1:${url.port} is already in use (try --metrics 0 for a free port)\n`);
  });
});
