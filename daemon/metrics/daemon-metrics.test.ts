/**
 * The daemon's metrics read the engine's own numbers: two daemons on the in-process fake relay, each
 * with its own prom-client registry, scraped after real traffic.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { DEFAULT_OUTBOX_POLICY } from '../engine/outbox.ts';
import { createTestNet, startTestDaemon, text, type TestDaemon, type TestNet } from '../engine/test-support.ts';
import { registerDaemonMetrics } from './daemon-metrics.ts';
import { sampleValue } from './test-parse.ts';

const DAY = 24 * 3600_000;
const daemons: TestDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) {
    d.unsubscribe();
    await d.daemon.close();
  }
});

async function start(net: TestNet, options: Parameters<typeof startTestDaemon>[1] = {}): Promise<TestDaemon & { scrape(): Promise<string> }> {
  const d = await startTestDaemon(net, options);
  daemons.push(d);
  const registry = new Registry();
  registerDaemonMetrics(registry, () => d.daemon.metrics());
  return { ...d, scrape: () => registry.metrics() };
}

describe('daemon metrics (engine counters and gauges)', () => {
  it('count sent, delivered and received messages, inbox and outbox depth, prekeys and the relay connection', async () => {
    const net = await createTestNet();
    const alice = await start(net);
    const bob = await start(net);
    for (const t of ['one', 'two', 'three']) await alice.daemon.backend.send({ to: bob.userId, body: text(t) });
    await bob.log.until((l) => l.messages().length === 3, 'bob has 3 messages');
    await alice.log.until((l) => l.events.filter((e) => e.kind === 'delivery' && e.state === 'delivered').length === 3, 'alice sees 3 receipts');

    const a = await alice.scrape();
    expect(sampleValue(a, 'ratchetd_messages_sent_total')).toBe(3);
    expect(sampleValue(a, 'ratchetd_messages_delivered_total')).toBe(3);
    expect(sampleValue(a, 'ratchetd_messages_failed_total')).toBe(0);
    expect(sampleValue(a, 'ratchetd_outbox_messages')).toBe(0);
    expect(sampleValue(a, 'ratchetd_outbox_oldest_age_seconds')).toBe(0);
    expect(sampleValue(a, 'ratchetd_broker_connected')).toBe(1);
    expect(sampleValue(a, 'ratchetd_contacts')).toBe(1);
    expect(sampleValue(a, 'ratchetd_one_time_prekeys')).toBeGreaterThan(0);
    expect(sampleValue(a, 'ratchetd_signed_prekey_age_seconds')).toBeGreaterThanOrEqual(0);

    const b = await bob.scrape();
    expect(sampleValue(b, 'ratchetd_messages_received_total')).toBe(3);
    expect(sampleValue(b, 'ratchetd_inbox_messages')).toBe(3);
    expect(sampleValue(b, 'ratchetd_messages_sent_total')).toBe(0);
    // bob's first message from alice was a handshake: it used one of bob's one-time prekeys
    expect(sampleValue(b, 'ratchetd_one_time_prekeys')).toBeLessThan(sampleValue(a, 'ratchetd_one_time_prekeys') ?? 0);

    expect(sampleValue(b, 'ratchetd_webhook_dead_letters')).toBe(0);
    await bob.daemon.backend.addDeadLetter(bob.log.messages()[0]!, { attempts: 20, lastError: 'HTTP 500', firstAttemptAt: 0 });
    expect(sampleValue(await bob.scrape(), 'ratchetd_webhook_dead_letters')).toBe(1);

    await bob.daemon.backend.ack(bob.log.messages().map((m) => m.messageId));
    expect(sampleValue(await bob.scrape(), 'ratchetd_inbox_messages')).toBe(0);
    expect(sampleValue(await bob.scrape(), 'ratchetd_webhook_dead_letters')).toBe(0);
  });

  it('count group messages once each (not their per-member carriers), groups, the group outbox and held items', async () => {
    const net = await createTestNet();
    const alice = await start(net);
    const bob = await start(net);
    const carol = await start(net);
    const g = await alice.daemon.backend.createGroup('m', [bob.userId, carol.userId]);
    await bob.log.until((l) => l.events.some((e) => e.kind === 'groupChanged'), 'bob joins');
    for (const t of ['one', 'two']) await alice.daemon.backend.send({ groupId: g.groupId, body: text(t) });
    await bob.log.until((l) => l.messages().filter((m) => m.groupId === g.groupId).length === 2, 'bob has both');
    await carol.log.until((l) => l.messages().filter((m) => m.groupId === g.groupId).length === 2, 'carol has both');
    await alice.log.until((l) => l.events.filter((e) => e.kind === 'delivery' && e.state === 'delivered').length === 4, 'both members receipt both');
    const a = await alice.scrape();
    expect(sampleValue(a, 'ratchetd_group_messages_sent_total')).toBe(2);
    // versions, keys and receipts travel as pairwise carriers: not messages a client sent
    expect(sampleValue(a, 'ratchetd_messages_sent_total')).toBe(0);
    expect(sampleValue(a, 'ratchetd_groups')).toBe(1);
    expect(sampleValue(a, 'ratchetd_group_outbox_messages')).toBe(0);
    expect(sampleValue(await bob.scrape(), 'ratchetd_group_held_items')).toBe(0);
    expect(sampleValue(await bob.scrape(), 'ratchetd_messages_received_total')).toBe(2);
  });

  it('count dropped envelopes by reason, with no peer or message in any label', async () => {
    const net = await createTestNet();
    const bob = await start(net);
    const mallory = net.hub.transport('malloryaaaaaaaaaaaaaaaaaaaaaaaaa' as TestDaemon['userId']);
    mallory.start();
    await mallory.whenConnected();
    await mallory.publishEnvelope(bob.userId, Uint8Array.of(0xff, 0x00, 0x01));
    await mallory.publishEnvelope(bob.userId, Uint8Array.of(0xff, 0x00, 0x02));
    await net.hub.idle();
    const b = await bob.scrape();
    expect(sampleValue(b, 'ratchetd_envelopes_dropped_total', { reason: 'Undecodable' })).toBe(2);
    expect(sampleValue(b, 'ratchetd_messages_received_total')).toBe(0);
    expect(b).not.toContain('malloryaaaa');
    expect(b).not.toContain(bob.userId);
    await mallory.close();
  });

  it('show the age of the oldest message waiting for its receipt, and count messages given up', async () => {
    const net = await createTestNet();
    const alice = await start(net, { timing: { outbox: { ...DEFAULT_OUTBOX_POLICY, tickMs: 10, maxAgeMs: 7 * DAY } } });
    const bob = await start(net);
    await alice.daemon.backend.send({ to: bob.userId, body: text('hello') });
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.state === 'delivered'), 'the first message is delivered');
    net.hub.disconnect(bob.userId); // bob is away: no receipt comes back
    await alice.daemon.backend.send({ to: bob.userId, body: text('are you there?') });
    net.clock.offsetMs += 3600_000;
    const waiting = await alice.scrape();
    expect(sampleValue(waiting, 'ratchetd_outbox_messages')).toBe(1);
    expect(sampleValue(waiting, 'ratchetd_outbox_oldest_age_seconds')).toBeGreaterThanOrEqual(3600);
    expect(sampleValue(waiting, 'ratchetd_outbox_oldest_age_seconds')).toBeLessThan(3600 + 60);

    net.clock.offsetMs += 8 * DAY; // past maxAgeMs: the next outbox tick gives the message up
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.state === 'failed'), 'the message failed');
    const failed = await alice.scrape();
    expect(sampleValue(failed, 'ratchetd_messages_failed_total')).toBe(1);
    expect(sampleValue(failed, 'ratchetd_outbox_messages')).toBe(0);
  });

  it('report the relay connection and the health signal as the relay comes and goes', async () => {
    const net = await createTestNet();
    const alice = await start(net);
    const changes: boolean[] = [];
    alice.daemon.health.onChange((h) => changes.push(h));
    expect(alice.daemon.health.healthy).toBe(true);
    net.hub.disconnect(alice.userId);
    expect(changes).toEqual([false]);
    expect(sampleValue(await alice.scrape(), 'ratchetd_broker_connected')).toBe(0);
    net.hub.reconnect(alice.userId);
    expect(changes).toEqual([false, true]);
    expect(sampleValue(await alice.scrape(), 'ratchetd_broker_connected')).toBe(1);
    await alice.daemon.close();
    expect(changes).toEqual([false, true, false]);
  });
});
