/**
 * Issue 5, part 1: daemons exchange messages through a stock Mosquitto 2.x started from the shipped
 * configs (broker/mosquitto/), anonymous on loopback and with a password per user id plus the
 * pattern ACL; the ACL holds against a third user; and Mosquitto's silent queue overflow
 * (max_queued_messages) costs a retransmission, never a message.
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { relayTestScope } from './fixtures/relay-test-scope.ts';
import { startMosquitto } from './fixtures/mosquitto-process.ts';
import type { RunningMosquitto } from './fixtures/mosquitto-process.ts';
import { brokerConnected, delivered } from './fixtures/relay-daemons.ts';
import type { RelayDaemon } from './fixtures/relay-daemons.ts';
import { text } from '../daemon/engine/test-support.ts';
import { bundleTopic, inboxTopic } from '../core/topics.ts';
import type { UserId } from '../core/user-id.ts';

const scope = await relayTestScope();
const { crypto } = scope;

async function mosquitto(config: 'loopback' | 'password', settings?: Record<string, string>): Promise<RunningMosquitto> {
  const m = await startMosquitto({ config, dir: await scope.daemons.tempDir('mosquitto'), ...(settings === undefined ? {} : { settings }) });
  scope.defer(() => m.stop());
  return m;
}

/** alice → bob and back, each confirmed by an encrypted delivery receipt. */
async function conversation(alice: RelayDaemon, bob: RelayDaemon): Promise<void> {
  const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('over mosquitto') });
  await bob.log.until((l) => l.texts(alice.userId).includes('over mosquitto'), 'bob receives');
  await alice.log.until((l) => delivered(l, messageId), 'receipt at alice');
  const reply = await bob.daemon.backend.send({ to: alice.userId, body: text('roger') });
  await alice.log.until((l) => l.texts(bob.userId).includes('roger'), 'alice receives');
  await bob.log.until((l) => delivered(l, reply.messageId), 'receipt at bob');
}

/** A user of the password broker: a daemon started first (it learns its user id), then provisioned. */
async function provisionedDaemon(m: RunningMosquitto): Promise<RelayDaemon & { password: string }> {
  const password = randomBytes(24).toString('base64url');
  const d = await scope.daemons.start({ brokerUrl: m.url, relayAuth: { password }, timing: { connectWaitMs: 50 } });
  await m.addUser({ username: d.userId, password }); // mosquitto_passwd + SIGHUP; the daemon retries
  await brokerConnected(d);
  return Object.assign(d, { password });
}

function rawClient(url: string, username: string, password: string, clientId = username, clean = true): Promise<MqttClient> {
  return mqtt.connectAsync(url, { username, password, clientId, clean, protocolVersion: 4, reconnectPeriod: 0 });
}

describe('daemons through Mosquitto', () => {
  it('anonymous on loopback (ratchetd-loopback.conf): messages and receipts both ways', async () => {
    const m = await mosquitto('loopback');
    const alice = await scope.daemons.start({ brokerUrl: m.url, relayAuth: {} });
    const bob = await scope.daemons.start({ brokerUrl: m.url, relayAuth: {} });
    await conversation(alice, bob);
  });

  it('password per user id + pattern ACL (ratchetd.conf, ratchetd.acl): messages and receipts both ways', async () => {
    const m = await mosquitto('password');
    const alice = await provisionedDaemon(m);
    const bob = await provisionedDaemon(m);
    await conversation(alice, bob);
    // A daemon offline while a message is sent gets it from its Mosquitto queue on return.
    await scope.daemons.stop(bob);
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('while you were away') });
    const back = await scope.daemons.start({ brokerUrl: m.url, relayAuth: { password: bob.password }, dataDir: bob.dataDir });
    await back.log.until((l) => l.texts(alice.userId).includes('while you were away'), 'queued message after restart');
    await alice.log.until((l) => delivered(l, messageId), 'receipt');
  });

  it('a wrong password is refused, and the daemon connects once it is provisioned', async () => {
    const m = await mosquitto('password');
    const d = await scope.daemons.start({ brokerUrl: m.url, relayAuth: { password: 'not-yet-known' }, timing: { connectWaitMs: 50 } });
    await new Promise((r) => setTimeout(r, 300)); // a few refused CONNECTs
    expect((await d.daemon.backend.getStatus()).brokerConnected).toBe(false);
    await expect(rawClient(m.url, d.userId, 'not-yet-known')).rejects.toThrow(/Not authorized|Bad username/i);
    await m.addUser({ username: d.userId, password: 'not-yet-known' });
    await brokerConnected(d);
  });
});

describe('the shipped ACL against another user', () => {
  async function users(m: RunningMosquitto, n: number): Promise<Array<{ userId: UserId; password: string }>> {
    // Raw MQTT clients: any name works as a Mosquitto username, as it does in the topic layout.
    const list = Array.from({ length: n }, (_, i) => ({ userId: `user${i}${randomBytes(8).toString('hex')}` as UserId, password: randomBytes(12).toString('hex') }));
    for (const u of list) await m.addUser({ username: u.userId, password: u.password });
    return list;
  }

  it("mallory cannot read bob's inbox (exact or wildcard), overwrite his bundle, or take over his session", async () => {
    const m = await mosquitto('password');
    const [alice, bob, mallory] = (await users(m, 3)) as [{ userId: UserId; password: string }, { userId: UserId; password: string }, { userId: UserId; password: string }];
    const b = await rawClient(m.url, bob.userId, bob.password);
    const a = await rawClient(m.url, alice.userId, alice.password);
    const x = await rawClient(m.url, mallory.userId, mallory.password);
    scope.defer(() => Promise.all([a, b, x].map((c) => c.endAsync(true))));
    const bobGot: string[] = [];
    const malloryGot: string[] = [];
    b.on('message', (t, p) => bobGot.push(`${t} ${p.toString()}`));
    x.on('message', (t, p) => malloryGot.push(`${t} ${p.toString()}`));

    await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
    await b.publishAsync(bundleTopic(bob.userId), 'bob-bundle', { qos: 1, retain: true });
    await x.subscribeAsync([inboxTopic(bob.userId), 'ratchetd/v1/inbox/+', '#', inboxTopic(mallory.userId)], { qos: 1 });
    // Denied publishes are acknowledged like any other on MQTT 3.1.1.
    await x.publishAsync(bundleTopic(bob.userId), 'forged-bundle', { qos: 1, retain: true });
    await a.publishAsync(inboxTopic(bob.userId), 'for-bob', { qos: 1 });
    await a.publishAsync(inboxTopic(mallory.userId), 'for-mallory', { qos: 1 }); // after for-bob: a barrier
    await until(() => malloryGot.length > 0 && bobGot.length > 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(bobGot).toEqual([`${inboxTopic(bob.userId)} for-bob`]);
    // Only her own inbox; bundles are public, and her `#` shows that a wildcard can list them all.
    expect(malloryGot.filter((line) => line.startsWith('ratchetd/v1/inbox/'))).toEqual([`${inboxTopic(mallory.userId)} for-mallory`]);
    expect(malloryGot).toContain(`${bundleTopic(bob.userId)} bob-bundle`);
    expect(malloryGot.join('\n')).not.toContain('forged-bundle');

    // (One connection per user: with use_username_as_clientid a second login of alice would end this one.)
    const bundles: string[] = [];
    a.on('message', (_t, p) => bundles.push(p.toString()));
    await a.subscribeAsync(bundleTopic(bob.userId), { qos: 1 });
    await until(() => bundles.length > 0);
    expect(bundles).toEqual(['bob-bundle']);

    // Mallory connects with bob's client id: use_username_as_clientid makes it her own session.
    const xClosed = new Promise<void>((resolve) => x.once('close', () => resolve()));
    const y = await rawClient(m.url, mallory.userId, mallory.password, bob.userId);
    scope.defer(() => y.endAsync(true));
    await xClosed; // her own previous session was the one taken over
    await a.publishAsync(inboxTopic(bob.userId), 'still-bob', { qos: 1 });
    await until(() => bobGot.length >= 2);
    expect(b.connected).toBe(true);
    expect(bobGot[1]).toBe(`${inboxTopic(bob.userId)} still-bob`);
  });
});

describe("Mosquitto's silent queue overflow", () => {
  it('max_queued_messages drops messages for an offline daemon, the outbox resends them: all arrive, once', async () => {
    // A tiny queue so the overflow happens at once (the shipped config says 100000).
    const m = await mosquitto('loopback', { max_queued_messages: '5' });
    const fastRetry = { outbox: { retryInitialMs: 300, retryMaxMs: 1000, tickMs: 100, maxAgeMs: 3600_000, stuckAfterPublishes: 1000 } };
    const alice = await scope.daemons.start({ brokerUrl: m.url, relayAuth: {}, timing: fastRetry });
    let bob = await scope.daemons.start({ brokerUrl: m.url, relayAuth: {} });
    await conversation(alice, bob); // session established, bob's subscription persists
    await scope.daemons.stop(bob);
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`q${i}`) })).messageId);
    await alice.log.until((l) => l.events.filter((e) => e.kind === 'delivery' && e.state === 'sent').length >= 30, 'all 30 PUBACKed');
    expect(m.output()).toContain(`Outgoing messages are being dropped for client ${bob.userId}`); // silently, to alice
    bob = await scope.daemons.start({ brokerUrl: m.url, relayAuth: {}, dataDir: bob.dataDir });
    await bob.log.until((l) => l.texts(alice.userId).filter((t) => t.startsWith('q')).length >= 30, 'bob has all 30', 30_000);
    const got = bob.log.messages(alice.userId).filter((msg) => Buffer.from(msg.body).toString().startsWith('q'));
    expect(got.map((msg) => msg.messageId)).toEqual(sent); // each once, in order
    await alice.log.until((l) => sent.every((id) => delivered(l, id)), 'all receipted', 30_000);
  });
});

async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 10));
}
