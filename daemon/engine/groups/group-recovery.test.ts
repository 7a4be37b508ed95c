/**
 * Recovery through the engine, never a wedge (daemons on in-memory stores over the in-process relay):
 *   - a member whose key state for a sender was lost (its chain record gone: a corrupt record skipped at
 *     load, a restore from before the key) holds that sender's copies, gets the sender's pairwise
 *     re-send of what it has not receipted, asks the sender for its key (key request, reason
 *     "Resent") and reads the sender's next copies again; both ends report it in their metrics;
 *   - a hole in a sender's seq log (a later message arrived, an earlier copy was lost by the relay)
 *     makes the member ask the sender once the hole outlived groupHoleWaitMs, even though nothing more
 *     comes from that sender (driven by the engine clock, no sleep); the answer fills the hole, once;
 *     the hole survives a restart of the member (it is read back from the stored seq log).
 * The sender's own re-send timer is set beyond the clock moves here, so what fills the hole is the
 * member's request alone.
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { registerDaemonMetrics } from '../../metrics/daemon-metrics.ts';
import { sampleValue } from '../../metrics/test-parse.ts';
import { DEFAULT_OUTBOX_POLICY } from '../outbox.ts';
import { openStoppedStore, text, type TestDaemon, type TestDaemonOptions } from '../test-support.ts';
import { engineTestScope } from '../test-scope.ts';
import type { EngineTiming } from '../config.ts';
import type { GroupInfo } from '../types.ts';
import { atVersion, groupTexts, isCopy, relayGate, until, waitTexts, type RelayGate } from './group-test-support.ts';

const DAY = 24 * 3600_000;
const HOLE_WAIT_MS = 60_000;

const scope = engineTestScope();
const start = (o: TestDaemonOptions = {}): Promise<TestDaemon> => scope.start(o);
const restart = (d: TestDaemon, o: TestDaemonOptions = {}): Promise<TestDaemon> => scope.restart(d, o);

/** Short ticks; the member's hole wait; re-sends by the sender only when the test says so. */
const timing = (retryInitialMs: number): Partial<EngineTiming> => ({
  groupHoleWaitMs: HOLE_WAIT_MS,
  outbox: { ...DEFAULT_OUTBOX_POLICY, tickMs: 10, retryInitialMs, retryMaxMs: Math.max(retryInitialMs, DEFAULT_OUTBOX_POLICY.retryMaxMs), maxAgeMs: 365 * DAY },
});

const metrics = (d: TestDaemon) => d.daemon.metrics()!;

async function group(gate: RelayGate, senderRetryMs: number): Promise<{ a: TestDaemon; b: TestDaemon; c: TestDaemon; g: GroupInfo }> {
  const a = await start({ timing: timing(senderRetryMs), wrapRelay: (t) => gate.wrap(t) });
  const [b, c] = [await start({ timing: timing(DAY) }), await start({ timing: timing(DAY) })];
  const g = await a.daemon.backend.createGroup('ops', [b.userId, c.userId]);
  await Promise.all([atVersion(b, g.groupId, 1), atVersion(c, g.groupId, 1)]);
  return { a, b, c, g };
}

/** a's m1 reaches b; the relay loses m2's copy for b; m3's arrives: a hole at m2 in b's log of a's messages. */
async function holeAtM2(gate: RelayGate, a: TestDaemon, b: TestDaemon, g: GroupInfo): Promise<void> {
  await a.daemon.backend.send({ groupId: g.groupId, body: text('m1') });
  await waitTexts(b, g.groupId, ['m1'], 'b gets m1');
  await scope.net.hub.idle();
  gate.decide = (to, env) => (to === b.userId && isCopy(env) ? 'drop' : 'pass');
  await a.daemon.backend.send({ groupId: g.groupId, body: text('m2') });
  gate.decide = () => 'pass';
  await a.daemon.backend.send({ groupId: g.groupId, body: text('m3') });
  await waitTexts(b, g.groupId, ['m3'], 'b gets m3');
}

describe('group recovery through the engine', () => {
  it('a member that lost a sender\'s key state gets the messages re-sent, asks for the key and reads the next copies; both report it', async () => {
    const gate = relayGate();
    const { a, b, c, g } = await group(gate, 30_000);
    await a.daemon.backend.send({ groupId: g.groupId, body: text('m1') });
    await waitTexts(b, g.groupId, ['m1'], 'b gets m1 (with a\'s key, pairwise)');
    await scope.net.hub.idle();
    // b's chain for a is lost (as a corrupt record skipped at load, or a restore from before the key)
    b.unsubscribe();
    await b.daemon.close();
    const store = await openStoppedStore(scope.net, b);
    await store.del('groupChains', `${g.groupId}:${a.userId}`);
    await store.close();
    const b2 = await restart(b, { timing: timing(DAY), subscribeAfter: 0 });

    await a.daemon.backend.send({ groupId: g.groupId, body: text('m2') });
    await a.daemon.backend.send({ groupId: g.groupId, body: text('m3') });
    await waitTexts(c, g.groupId, ['m2', 'm3'], 'c reads both copies');
    await scope.net.hub.idle();
    // b cannot read its copies (their tag is unknown now): held, not delivered, nothing asked yet
    expect(groupTexts(b2, g.groupId)).toEqual(['m1']);
    expect(metrics(b2).groupHeldItems).toBe(2);
    expect(metrics(b2).groupKeyRequestsSent).toEqual({});

    // a's re-send timer: b has not receipted m2, m3 → re-sent pairwise; b asks for the key
    scope.net.clock.offsetMs += 31_000;
    await waitTexts(b2, g.groupId, ['m2', 'm3'], 'b gets m2 and m3 re-sent');
    await until(() => metrics(a).groupKeyRequestsAnswered === 1, 'a answers b\'s key request');
    expect(metrics(b2).groupKeyRequestsSent).toEqual({ Resent: 1 });
    await scope.net.hub.idle();

    // the next message travels as a copy again, and b reads it: no re-send needed
    const mark = scope.net.hub.published.length;
    await a.daemon.backend.send({ groupId: g.groupId, body: text('m4') });
    await waitTexts(b2, g.groupId, ['m4'], 'b reads the next copy');
    expect(scope.net.hub.published.slice(mark).filter((p) => p.to === b2.userId).some((p) => isCopy(p.envelope))).toBe(true);
    await scope.net.hub.idle();
    expect(groupTexts(b2, g.groupId)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(groupTexts(c, g.groupId)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(metrics(b2).groupKeyRequestsSent).toEqual({ Resent: 1 });
    expect(metrics(b2).groupHeldItems).toBe(0);
  });

  it('a hole in a sender\'s seq log makes the member ask the sender after the wait, with nothing more sent; the answer fills it once', async () => {
    const gate = relayGate();
    const { a, b, c, g } = await group(gate, DAY);
    await holeAtM2(gate, a, b, g);
    await waitTexts(c, g.groupId, ['m2', 'm3'], 'c gets both');
    await scope.net.hub.idle();
    expect(gate.dropped).toHaveLength(1);
    expect(groupTexts(b, g.groupId)).toEqual(['m1', 'm3']);

    // within the wait (the ticks run, the clock has not moved past it): nothing asked
    const ticksLater = Date.now() + 100;
    await until(() => Date.now() > ticksLater, 'ten ticks of b\'s timer');
    expect(metrics(b).groupKeyRequestsSent).toEqual({});
    expect(metrics(a).groupKeyRequestsAnswered).toBe(0);

    // past the wait: b asks a (haveUpToSeq 1); a answers with its key and re-sends m2 (and m3)
    scope.net.clock.offsetMs += HOLE_WAIT_MS + 1_000;
    await waitTexts(b, g.groupId, ['m2'], 'b gets m2 after asking');
    expect(metrics(b).groupKeyRequestsSent).toEqual({ SeqHole: 1 });
    await until(() => metrics(a).groupKeyRequestsAnswered === 1, 'a answered');
    await scope.net.hub.idle();
    expect(groupTexts(b, g.groupId)).toEqual(['m1', 'm3', 'm2']);
    // the hole is closed: later waits ask nothing more
    scope.net.clock.offsetMs += 10 * HOLE_WAIT_MS;
    const later = Date.now() + 100;
    await until(() => Date.now() > later, 'more ticks');
    expect(metrics(b).groupKeyRequestsSent).toEqual({ SeqHole: 1 });
    // and as Prometheus metrics
    const scrape = (d: TestDaemon): Promise<string> => {
      const registry = new Registry();
      registerDaemonMetrics(registry, () => d.daemon.metrics());
      return registry.metrics();
    };
    expect(sampleValue(await scrape(b), 'ratchetd_group_key_requests_total', { reason: 'SeqHole' })).toBe(1);
    expect(sampleValue(await scrape(a), 'ratchetd_group_key_requests_answered_total')).toBe(1);
  });

  it('the hole survives a restart of the member: the restarted daemon asks after the wait', async () => {
    const gate = relayGate();
    const { a, b, g } = await group(gate, DAY);
    await holeAtM2(gate, a, b, g);
    await scope.net.hub.idle();
    const b2 = await restart(b, { timing: timing(DAY), subscribeAfter: 0 });
    expect(metrics(b2).groupKeyRequestsSent).toEqual({});
    scope.net.clock.offsetMs += HOLE_WAIT_MS + 1_000;
    await waitTexts(b2, g.groupId, ['m2'], 'the restarted b gets m2 after asking');
    expect(metrics(b2).groupKeyRequestsSent).toEqual({ SeqHole: 1 });
    await scope.net.hub.idle();
    expect(groupTexts(b2, g.groupId)).toEqual(['m1', 'm3', 'm2']);
  });
});
