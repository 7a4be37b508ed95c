/**
 * Issue 16, part 1: node failures in a 3-node NATS JetStream cluster (broker/nats/, stream_replicas
 * 3) under daemons that list every node (`--broker URL,URL,URL`):
 *  (a) the sender's node is killed (SIGKILL) mid-stream: the sender moves to another node, and the
 *      recipient gets every message once, in order;
 *  (b) the node leading the Raft group of the stream that holds an offline recipient's queue (and
 *      the node the recipient last used) is killed: the recipient, started on another node, gets the
 *      whole queue once, in order, and a new user reads his retained bundle from the nodes left;
 *  (c) all three nodes killed at once and restarted: the queue is read back from their stores.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { relayTestScope } from './fixtures/relay-test-scope.ts';
import { startNatsCluster } from './fixtures/nats-cluster.ts';
import type { RunningNatsCluster } from './fixtures/nats-cluster.ts';
import { brokerConnected, delivered } from './fixtures/relay-daemons.ts';
import type { RelayDaemon } from './fixtures/relay-daemons.ts';
import { text } from '../daemon/engine/test-support.ts';
import type { EventLog } from '../daemon/engine/test-support.ts';
import type { EngineTiming } from '../daemon/engine/index.ts';
import type { UserId } from '../core/user-id.ts';

const scope = await relayTestScope();
const { crypto } = scope;

async function cluster(): Promise<RunningNatsCluster> {
  // Its own temp dir, removed only after the nodes have stopped writing to it.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ratchetd-nats-'));
  scope.defer(() => rm(dir, { recursive: true, force: true }));
  const c = await startNatsCluster({ dir });
  scope.defer(() => c.stop());
  return c;
}

const urls = (c: RunningNatsCluster, order: readonly number[]): string => order.map((n) => c.nodes[n - 1]!.url).join(',');

/** A daemon started, provisioned (add-user.sh + reload), then restarted so it begins at its first URL. */
async function user(c: RunningNatsCluster, order: readonly number[], timing: Partial<EngineTiming> = {}): Promise<RelayDaemon & { password: string }> {
  const password = randomBytes(24).toString('base64url');
  const first = await scope.daemons.start({ brokerUrl: urls(c, order), relayAuth: { password }, timing: { connectWaitMs: 50 } });
  await c.addUser({ userId: first.userId, password });
  await brokerConnected(first, 30_000);
  await scope.daemons.stop(first);
  const d = await scope.daemons.start({ brokerUrl: urls(c, order), relayAuth: { password }, dataDir: first.dataDir, timing });
  await brokerConnected(d, 30_000);
  return Object.assign(d, { password });
}

const received = (log: EventLog, from: UserId, prefix: string): string[] => log.texts(from).filter((t) => t.startsWith(prefix));
const sentState = (log: EventLog, id: string): boolean => log.events.some((e) => e.kind === 'delivery' && e.messageId === id && e.state === 'sent');

async function firstContact(alice: RelayDaemon, bob: RelayDaemon): Promise<void> {
  const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('hello') });
  await bob.log.until((l) => l.texts(alice.userId).includes('hello'), 'bob receives hello', 30_000);
  await alice.log.until((l) => delivered(l, messageId), 'receipt for hello', 30_000);
}

/** Outbox retries within seconds (production: 15 s and up), so a lost PUBACK costs little time. */
const FAST_RETRY: Partial<EngineTiming> = { outbox: { retryInitialMs: 1000, retryMaxMs: 3000, tickMs: 100, maxAgeMs: 3600_000, stuckAfterPublishes: 1000 } };

describe('NATS cluster node failures', () => {
  it('(a) the sender’s node killed mid-stream: nothing lost, nothing twice, in order', { timeout: 180_000 }, async () => {
    const c = await cluster();
    const alice = await user(c, [1, 2, 3], FAST_RETRY);
    const bob = await user(c, [2, 3, 1]);
    expect((await alice.daemon.backend.getStatus()).brokerUrl).toBe(c.nodes[0].url);
    expect((await bob.daemon.backend.getStatus()).brokerUrl).toBe(c.nodes[1].url);
    await firstContact(alice, bob);

    const total = 60;
    const window = 10;
    const killAt = 25;
    const sent: string[] = [];
    let inFlightAtKill = 0;
    for (let i = 0; i < total; i++) {
      // At most `window` messages sent and not yet at bob: the stream is still running at the kill.
      if (i >= window) await bob.log.until((l) => received(l, alice.userId, 'm').length >= i - window, `bob has ${i - window}`, 60_000);
      sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`m${i}`) })).messageId);
      if (i === killAt) {
        inFlightAtKill = sent.length - received(bob.log, alice.userId, 'm').length;
        await c.nodes[0].kill();
      }
    }
    expect(inFlightAtKill).toBeGreaterThan(0);
    await bob.log.until((l) => received(l, alice.userId, 'm').length >= total, `bob has all ${total}`, 90_000);
    await alice.log.until((l) => sent.every((id) => delivered(l, id)), 'every message receipted', 90_000);
    const got = bob.log.messages(alice.userId).filter((m) => Buffer.from(m.body).toString().startsWith('m'));
    expect(got.map((m) => m.messageId)).toEqual(sent); // each once, in the order sent
    const status = await alice.daemon.backend.getStatus();
    expect(status.brokerConnected).toBe(true);
    expect([c.nodes[1].url, c.nodes[2].url]).toContain(status.brokerUrl);
    // Bob's node survived, but he may have been moved too: during the Raft elections after the kill
    // nats-server 2.9 can drop MQTT connections on the other nodes (seen in 1 of 2 runs).
    const bobStatus = await bob.daemon.backend.getStatus();
    expect(bobStatus.brokerConnected).toBe(true);
    expect([c.nodes[1].url, c.nodes[2].url]).toContain(bobStatus.brokerUrl);
  });

  it('(b) the node holding an offline recipient’s queue killed: the recipient, on another node, gets it all once, in order', { timeout: 180_000 }, async () => {
    const c = await cluster();
    // The stream MQTT keeps QoS 1 messages in exists after the first logins; bob then uses its leader.
    const alice0 = await user(c, [1, 2, 3]);
    const leader = (await c.stream('$MQTT_msgs'))?.leader;
    expect(leader).toBeDefined();
    const others = [1, 2, 3].filter((n) => n !== leader!);
    await scope.daemons.stop(alice0);
    // Production outbox timing: the queue must come from the relay, not from a retransmission.
    const alice = await scope.daemons.start({ brokerUrl: urls(c, others), relayAuth: { password: alice0.password }, dataDir: alice0.dataDir });
    const bob = await user(c, [leader!]);
    expect((await bob.daemon.backend.getStatus()).brokerUrl).toBe(c.nodes[leader! - 1]!.url);
    await firstContact(alice, bob);

    await scope.daemons.stop(bob);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`q${i}`) })).messageId);
    await alice.log.until((l) => sent.every((id) => sentState(l, id)), 'all 20 PUBACKed', 60_000);
    expect((await c.stream('$MQTT_msgs'))!.leader).toBe(leader);

    await c.nodes[leader! - 1]!.kill();
    await c.ready(); // the two left elect new leaders
    let after = await c.stream('$MQTT_msgs');
    for (const deadline = Date.now() + 30_000; after?.leader === leader && Date.now() < deadline; after = await c.stream('$MQTT_msgs')) {
      await new Promise((r) => setTimeout(r, 100)); // the stream's new Raft leader
    }
    expect(after!.leader).not.toBe(leader);
    expect(after!.messages).toBeGreaterThanOrEqual(20); // bob's queue, on the replicas that are left
    // A first contact after the kill: carol, new, reads bob's retained bundle from the nodes left.
    const carol = await user(c, others);
    const fromCarol = await carol.daemon.backend.send({ to: bob.userId, body: text('hello from carol') });
    await carol.log.until((l) => sentState(l, fromCarol.messageId), "carol's message PUBACKed", 60_000);
    const back = await scope.daemons.start({ brokerUrl: urls(c, others), relayAuth: { password: bob.password }, dataDir: bob.dataDir });
    await back.log.until((l) => received(l, alice.userId, 'q').length >= 20, 'all 20 at bob', 90_000);
    await back.log.until((l) => l.texts(carol.userId).includes('hello from carol'), "carol's first message at bob", 60_000);
    await carol.log.until((l) => delivered(l, fromCarol.messageId), "carol's receipt", 60_000);
    const got = back.log.messages(alice.userId).filter((m) => Buffer.from(m.body).toString().startsWith('q'));
    expect(got.map((m) => m.messageId)).toEqual(sent);
    await alice.log.until((l) => sent.every((id) => delivered(l, id)), 'all 20 receipted', 60_000);
    expect(others.map((n) => c.nodes[n - 1]!.url)).toContain((await back.daemon.backend.getStatus()).brokerUrl);
  });

  it('all three nodes killed at once and restarted: the offline queue is still there, once, in order', { timeout: 180_000 }, async () => {
    const c = await cluster();
    const alice = await user(c, [1, 2, 3]);
    const bob = await user(c, [2, 3, 1]);
    await firstContact(alice, bob);
    await scope.daemons.stop(bob);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`k${i}`) })).messageId);
    await alice.log.until((l) => sent.every((id) => sentState(l, id)), 'all 20 PUBACKed', 60_000);
    // In the stream before the crash (a PUBACK does not wait for the stream).
    for (const deadline = Date.now() + 30_000; ((await c.stream('$MQTT_msgs'))?.messages ?? 0) < 20; ) {
      if (Date.now() > deadline) throw new Error('bob\'s 20 messages never showed in $MQTT_msgs');
      await new Promise((r) => setTimeout(r, 50));
    }
    await scope.daemons.stop(alice); // nothing can be resent: the queue must come from the relay's disks
    await Promise.all(c.nodes.map((n) => n.kill()));
    await Promise.all(c.nodes.map((n) => n.restart()));
    await c.ready(60_000);
    const back = await scope.daemons.start({ brokerUrl: urls(c, [3, 1, 2]), relayAuth: { password: bob.password }, dataDir: bob.dataDir });
    await back.log.until((l) => received(l, alice.userId, 'k').length >= 20, 'all 20 at bob after the cluster restart', 90_000);
    const got = back.log.messages(alice.userId).filter((m) => Buffer.from(m.body).toString().startsWith('k'));
    expect(got.map((m) => m.messageId)).toEqual(sent);
  });
});
