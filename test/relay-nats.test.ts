/**
 * Issue 16, part 1: a 3-node NATS JetStream cluster (nats-server 2.9, MQTT on JetStream with
 * stream_replicas 3) as the relay, started from the shipped files (broker/nats/: render-cluster.sh,
 * the node template, add-user.sh). Daemons on different nodes talk with a password per user id; a
 * login without credentials or with a wrong password is refused; the permissions give the relay's
 * ACL (own inbox to read, own bundle to write, any inbox to write) and hold against another user;
 * and what nats-server 2.9 cannot enforce (a client id is not bound to the username, so another user
 * can delete a session she can name) is closed by the daemon's secret client id (relay-client-id.ts).
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { relayTestScope } from './fixtures/relay-test-scope.ts';
import { startNatsCluster } from './fixtures/nats-cluster.ts';
import type { RunningNatsCluster } from './fixtures/nats-cluster.ts';
import { brokerConnected, delivered } from './fixtures/relay-daemons.ts';
import type { RelayDaemon } from './fixtures/relay-daemons.ts';
import { text } from '../daemon/engine/test-support.ts';
import { bundleTopic, inboxTopic } from '../core/topics.ts';
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

/** `--broker` for a daemon: the node it prefers first, then the others. */
const brokers = (c: RunningNatsCluster, first: number): string => [first, ...[1, 2, 3].filter((n) => n !== first)].map((n) => c.nodes[n - 1]!.url).join(',');

/** A user: the daemon starts first (it learns its user id), then is provisioned (add-user.sh + reload). */
async function provisionedDaemon(c: RunningNatsCluster, brokerUrl: string): Promise<RelayDaemon & { password: string }> {
  const password = randomBytes(24).toString('base64url');
  const d = await scope.daemons.start({ brokerUrl, relayAuth: { password }, timing: { connectWaitMs: 50 } });
  await c.addUser({ userId: d.userId, password });
  await brokerConnected(d, 30_000);
  return Object.assign(d, { password });
}

async function conversation(alice: RelayDaemon, bob: RelayDaemon, label: string): Promise<void> {
  const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text(label) });
  await bob.log.until((l) => l.texts(alice.userId).includes(label), 'bob receives', 30_000);
  await alice.log.until((l) => delivered(l, messageId), 'receipt at alice', 30_000);
  const reply = await bob.daemon.backend.send({ to: alice.userId, body: text(`re: ${label}`) });
  await alice.log.until((l) => l.texts(bob.userId).includes(`re: ${label}`), 'alice receives', 30_000);
  await bob.log.until((l) => delivered(l, reply.messageId), 'receipt at bob', 30_000);
}

function rawClient(url: string, username: string | undefined, password: string | undefined, clientId: string, clean = true): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    clientId,
    clean,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Raw users with any user-id-shaped name (add-user.sh checks the shape). */
async function rawUsers(c: RunningNatsCluster, n: number): Promise<Array<{ userId: UserId; password: string }>> {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const list = Array.from({ length: n }, () => ({
    userId: Array.from(randomBytes(32), (b) => alphabet[b % 32]).join('') as UserId,
    password: randomBytes(18).toString('base64url'),
  }));
  for (const u of list) await c.addUser(u);
  return list;
}

describe('daemons through a 3-node NATS JetStream cluster', () => {
  it('a password per user id (add-user.sh): daemons on different nodes, messages and receipts both ways, a queue across a restart', { timeout: 120_000 }, async () => {
    const c = await cluster();
    const alice0 = await provisionedDaemon(c, brokers(c, 1));
    const bob0 = await provisionedDaemon(c, brokers(c, 2));
    // Refused logins moved them along their lists; restarted, each starts at its first node.
    await Promise.all([scope.daemons.stop(alice0), scope.daemons.stop(bob0)]);
    const alice = await scope.daemons.start({ brokerUrl: brokers(c, 1), relayAuth: { password: alice0.password }, dataDir: alice0.dataDir });
    const bob = Object.assign(await scope.daemons.start({ brokerUrl: brokers(c, 2), relayAuth: { password: bob0.password }, dataDir: bob0.dataDir }), { password: bob0.password });
    expect((await alice.daemon.backend.getStatus()).brokerUrl).toBe(c.nodes[0].url);
    expect((await bob.daemon.backend.getStatus()).brokerUrl).toBe(c.nodes[1].url);
    await conversation(alice, bob, 'across nodes 1 and 2');
    // Offline: the queue is kept for bob's session, and he gets it on node 3.
    await scope.daemons.stop(bob);
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('while you were away') });
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'sent'), 'PUBACK');
    const back = await scope.daemons.start({ brokerUrl: brokers(c, 3), relayAuth: { password: bob.password }, dataDir: bob.dataDir });
    await back.log.until((l) => l.texts(alice.userId).includes('while you were away'), 'queued message on node 3', 30_000);
    await alice.log.until((l) => delivered(l, messageId), 'receipt', 30_000);
  });
});

describe('logins the cluster refuses', () => {
  it('no credentials, a wrong password, an unknown user; a daemon connects once it is provisioned', { timeout: 120_000 }, async () => {
    const c = await cluster();
    const [known] = await rawUsers(c, 1);
    const url = c.nodes[0].url;
    await expect(rawClient(url, undefined, undefined, 'anonymous-client')).rejects.toThrow(/Not authorized/i);
    await expect(rawClient(url, known!.userId, 'wrong-password', known!.userId)).rejects.toThrow(/Not authorized|Bad username/i);
    await expect(rawClient(url, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', known!.password, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).rejects.toThrow(/Not authorized|Bad username/i);
    const ok = await rawClient(url, known!.userId, known!.password, known!.userId);
    await ok.endAsync(true);

    // A daemon with a password the cluster does not know yet keeps retrying, refused each time...
    const password = randomBytes(24).toString('base64url');
    const d = await scope.daemons.start({ brokerUrl: brokers(c, 1), relayAuth: { password }, timing: { connectWaitMs: 50 } });
    const refused = new RegExp(`"${d.userId}[^"\n]*" - authentication error`); // the client id, as NATS logs it
    await until(() => c.nodes.some((n) => refused.test(n.output())), 'a refused login in a node log');
    expect((await d.daemon.backend.getStatus()).brokerConnected).toBe(false);
    // ...and connects at its next attempt once add-user.sh has added it and the nodes reloaded.
    await c.addUser({ userId: d.userId, password });
    await brokerConnected(d, 30_000);
  });

  it('users may log in over MQTT only: the NATS protocol port refuses them (else they could read any delivery)', { timeout: 60_000 }, async () => {
    const c = await cluster();
    const [u] = await rawUsers(c, 1);
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(c.nodes[0].ports.client, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        if (/-ERR|PONG/.test(got)) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      s.write(`CONNECT ${JSON.stringify({ user: u!.userId, pass: u!.password, verbose: false })}\r\nSUB $MQTT.sub.* 1\r\nPING\r\n`);
    });
    expect(reply).toContain("-ERR 'Authorization Violation'");
    expect(reply).not.toContain('PONG');
  });
});

describe('the shipped permissions against another user', () => {
  it("mallory cannot read bob's inbox (exact, wildcard, #, $MQTT subjects) or overwrite his bundle", { timeout: 120_000 }, async () => {
    const c = await cluster();
    const [alice, bob, mallory] = (await rawUsers(c, 3)) as [{ userId: UserId; password: string }, { userId: UserId; password: string }, { userId: UserId; password: string }];
    // Each on another node: permissions hold cluster-wide.
    const b = await rawClient(c.nodes[0].url, bob.userId, bob.password, bob.userId, false);
    const a = await rawClient(c.nodes[1].url, alice.userId, alice.password, alice.userId, false);
    const x = await rawClient(c.nodes[2].url, mallory.userId, mallory.password, mallory.userId, false);
    scope.defer(() => Promise.all([a, b, x].map((cl) => cl.endAsync(true))));
    const bobGot: string[] = [];
    const malloryGot: string[] = [];
    b.on('message', (t, p) => bobGot.push(`${t} ${p.toString()}`));
    x.on('message', (t, p) => malloryGot.push(`${t} ${p.toString()}`));

    expect(await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 })).toEqual([{ topic: inboxTopic(bob.userId), qos: 1 }]);
    await b.publishAsync(bundleTopic(bob.userId), 'bob-bundle', { qos: 1, retain: true });
    // NATS answers a denied subscription with SUBACK 0x80 (mqtt.js: "Subscribe error"); the connection stays.
    for (const topic of [inboxTopic(bob.userId), 'ratchetd/v1/inbox/+', 'ratchetd/v1/#', '+/v1/inbox/' + bob.userId, '#', '$MQTT/sub/+', '$MQTT/#', '$MQTT/msgs/#']) {
      await expect(x.subscribeAsync(topic, { qos: 1 }), topic).rejects.toThrow(/Subscribe error/);
    }
    expect(x.connected).toBe(true);
    await x.subscribeAsync(inboxTopic(mallory.userId), { qos: 1 });
    // A publish on someone else's bundle is acknowledged (MQTT 3.1.1 has no refusal) and dropped.
    await x.publishAsync(bundleTopic(bob.userId), 'forged-bundle', { qos: 1, retain: true });
    await a.publishAsync(inboxTopic(bob.userId), 'for-bob', { qos: 1 });
    await a.publishAsync(inboxTopic(mallory.userId), 'for-mallory', { qos: 1 });
    await until(() => malloryGot.length > 0 && bobGot.length > 0, 'both inboxes');
    expect(bobGot).toEqual([`${inboxTopic(bob.userId)} for-bob`]);
    expect(malloryGot).toEqual([`${inboxTopic(mallory.userId)} for-mallory`]);

    // Bundles are public (exact topics), and bob's is still his own.
    const bundles: string[] = [];
    a.on('message', (t, p) => t === bundleTopic(bob.userId) && bundles.push(p.toString()));
    await a.subscribeAsync(bundleTopic(bob.userId), { qos: 0 });
    await until(() => bundles.length > 0, "bob's retained bundle");
    expect(bundles).toEqual(['bob-bundle']);
    // Alice may not publish bob's bundle either, nor subscribe to his inbox.
    await expect(a.subscribeAsync(inboxTopic(bob.userId), { qos: 1 })).rejects.toThrow(/Subscribe error/);
  });

  it("nats-server 2.9 does not bind the client id to the username: with bob's client id, mallory deletes his session and queue (and reads nothing)", { timeout: 120_000 }, async () => {
    const c = await cluster();
    const [alice, bob, mallory] = (await rawUsers(c, 3)) as [{ userId: UserId; password: string }, { userId: UserId; password: string }, { userId: UserId; password: string }];
    const bobClientId = `${bob.userId}-session`;
    const b = await rawClient(c.nodes[0].url, bob.userId, bob.password, bobClientId, false);
    await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
    await b.endAsync(true);
    const a = await rawClient(c.nodes[1].url, alice.userId, alice.password, alice.userId);
    scope.defer(() => a.endAsync(true));
    for (let i = 0; i < 5; i++) await a.publishAsync(inboxTopic(bob.userId), `q${i}`, { qos: 1 });
    const queued = await c.stream('$MQTT_msgs');
    expect(queued).toMatchObject({ consumers: 1, messages: 5 });

    // Resuming bob's session (clean:false) she is refused his inbox subscription: she reads nothing.
    const got: string[] = [];
    const x = await rawClient(c.nodes[2].url, mallory.userId, mallory.password, bobClientId, false);
    x.on('message', (t, p) => got.push(`${t} ${p.toString()}`));
    await x.endAsync(true);
    // With a clean session she deletes it, and his queue with it.
    const y = await rawClient(c.nodes[2].url, mallory.userId, mallory.password, bobClientId, true);
    await y.endAsync(true);
    expect(got).toEqual([]);
    await until(async () => {
      const now = await c.stream('$MQTT_msgs');
      return now !== undefined && now.consumers === 0 && now.messages === 0;
    }, "bob's queue deleted with his session");
  });

  it("so a daemon on a password broker uses a client id nobody else can compute: mallory, using bob's user id, touches nothing", { timeout: 180_000 }, async () => {
    const c = await cluster();
    const alice = await provisionedDaemon(c, brokers(c, 1));
    const bob = await provisionedDaemon(c, brokers(c, 2));
    await conversation(alice, bob, 'before mallory');
    await scope.daemons.stop(bob);
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`q${i}`) })).messageId);
    await alice.log.until((l) => sent.every((id) => l.events.some((e) => e.kind === 'delivery' && e.messageId === id && e.state === 'sent')), 'all 10 PUBACKed');
    // bob's queue: his 10 messages in $MQTT_msgs (the stream MQTT keeps QoS 1 messages in), his consumer.
    const queued = await c.stream('$MQTT_msgs');
    expect(queued).toMatchObject({ consumers: 2 });
    expect(queued!.messages).toBeGreaterThanOrEqual(10);

    const [mallory] = await rawUsers(c, 1);
    for (const clean of [false, true]) {
      const x = await rawClient(c.nodes[2].url, mallory!.userId, mallory!.password, bob.userId, clean);
      await x.endAsync(true);
    }
    // A session named bob.userId was never bob's: his consumer and messages are still there.
    const after = await c.stream('$MQTT_msgs');
    expect(after).toMatchObject({ consumers: 2 });
    expect(after!.messages).toBeGreaterThanOrEqual(10);

    // Bob returns (alice on the production outbox timing: no resend within the test's first seconds
    // is needed, the queue is intact).
    const back = await scope.daemons.start({ brokerUrl: brokers(c, 2), relayAuth: { password: bob.password }, dataDir: bob.dataDir });
    await back.log.until((l) => l.texts(alice.userId).filter((t) => t.startsWith('q')).length >= 10, 'all 10 at bob', 60_000);
    const q = back.log.messages(alice.userId).filter((m) => Buffer.from(m.body).toString().startsWith('q'));
    expect(q.map((m) => m.messageId)).toEqual(sent);
    await alice.log.until((l) => sent.every((id) => delivered(l, id)), 'all receipted', 60_000);
  });
});
