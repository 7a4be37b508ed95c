/**
 * Issue 5, part 2: two or more `ratchetd broker` nodes share one Redis (redis-persistence.ts).
 * Cross-node delivery in order, retained bundles from every node, whole queues on one CONNECT,
 * node SIGKILL and Redis restart without loss, and the quota and TTL holding across nodes; then
 * daemons on different nodes talking, through a node crash.
 */
import { describe, expect, it } from 'vitest';
import { relayTestScope } from './fixtures/relay-test-scope.ts';
import { createBroker } from '../broker/index.ts';
import type { RelayBroker } from '../broker/index.ts';
import { outgoingListKey } from '../broker/redis-queue-quota.ts';
import { startBrokerProcess } from './fixtures/broker-process.ts';
import type { BrokerProcess } from './fixtures/broker-process.ts';
import { startRedis } from './fixtures/redis-process.ts';
import type { RunningRedis } from './fixtures/redis-process.ts';
import { delivered, RelayDaemons } from './fixtures/relay-daemons.ts';
import { bundleTopic, closed, connectAs, end, inboxTopic, newIdentity, tempDir } from '../broker/test-support.ts';
import { text } from '../daemon/engine/test-support.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';
import { Redis } from 'ioredis';

const scope = await relayTestScope();
const { crypto } = scope;

async function redisServer(): Promise<RunningRedis & { dir: string }> {
  const tmp = await tempDir('redis');
  const redis = await startRedis(tmp.dir);
  scope.defer(tmp.remove, () => redis.stop());
  return Object.assign(redis, { dir: tmp.dir });
}

async function node(redisUrl: string, limits: { maxQueuedPerClient?: number; messageTtlMs?: number } = {}): Promise<{ broker: RelayBroker; url: string }> {
  const broker = createBroker({ redisUrl, crypto, ...limits });
  scope.defer(() => broker.close());
  const { url } = await broker.start();
  return { broker, url };
}

async function nodeProcess(redisUrl: string, port?: number): Promise<BrokerProcess> {
  const p = await within('a broker node process', startBrokerProcess(redisUrl, port === undefined ? {} : { port }));
  scope.defer(() => p.kill());
  return p;
}

/**
 * Resolves once the node at `toUrl` has processed everything the node at `fromUrl` broadcast so far.
 * Nodes learn of each other's subscriptions and logins over Redis pub/sub, asynchronously (a node
 * that has not yet heard of bob's subscription does not queue for him). One node's broadcasts travel
 * in order, so a marker published through `fromUrl` and received on `toUrl` comes after them.
 */
async function flushed(fromUrl: string, toUrl: string): Promise<void> {
  const [sender, observer] = [newIdentity(crypto), newIdentity(crypto)];
  let seen = false;
  const o = await within('an observer connects', connectAs(toUrl, crypto, observer, { onMessage: () => (seen = true) }));
  await within("the observer's SUBACK", o.subscribeAsync(inboxTopic(observer.userId), { qos: 1 }));
  const s = await within('a marker sender connects', connectAs(fromUrl, crypto, sender));
  await within('the marker PUBACK', s.publishAsync(inboxTopic(observer.userId), 'flush', { qos: 1 }));
  await waitFor('the flush marker', () => seen);
  await end(o, s);
}

/** Bob (clean:false) subscribes once through `url`, then goes offline: the cluster queues his inbox. */
async function offlineSubscriber(url: string, who: RelayIdentity, otherNodes: string[] = []): Promise<void> {
  const c = await connectAs(url, crypto, who, { clean: false });
  await c.subscribeAsync(inboxTopic(who.userId), { qos: 1 });
  await end(c);
  for (const other of otherNodes) await flushed(url, other); // every node knows bob's subscription
}

/**
 * Sends `count` messages from alice through `sendUrl`, then a marker to carol (online on `carolUrl`).
 * Enqueues complete in publish order (ordered-enqueue.ts), so once carol has the marker — on any
 * node — everything before it is in Redis.
 */
async function sendQueued(sendUrl: string, carolUrl: string, alice: RelayIdentity, to: RelayIdentity, carol: RelayIdentity, names: string[]): Promise<void> {
  const marker = `marker-${names[0] ?? ''}`;
  let arrived = false;
  const c = await within('carol connects', connectAs(carolUrl, crypto, carol, { clean: false, onMessage: (_t, p) => (arrived ||= p.toString() === marker) }));
  await within("carol's SUBACK", c.subscribeAsync(inboxTopic(carol.userId), { qos: 1 }));
  const a = await within('alice connects', connectAs(sendUrl, crypto, alice));
  let acked = 0;
  await within(`${names.length} PUBACKs`, Promise.all(names.map((n) => a.publishAsync(inboxTopic(to.userId), n, { qos: 1 }).then(() => acked++))), () => `(got ${acked})`);
  await within('the marker PUBACK', a.publishAsync(inboxTopic(carol.userId), marker, { qos: 1 }));
  await waitFor(`carol's ${marker}`, () => arrived);
  await end(a, c);
}

/** Bob reconnects (clean:false) through `url` and collects `expected` queued messages in ONE session. */
async function collect(url: string, bob: RelayIdentity, expected: number, redisUrl?: string): Promise<string[]> {
  const got: string[] = [];
  let reconnects = 0;
  const b = await connectAs(url, crypto, bob, { clean: false, onMessage: (_t, p) => got.push(p.toString()) });
  b.on('connect', () => reconnects++);
  const progress = async (): Promise<string> => {
    let queued = 'unknown';
    if (redisUrl !== undefined) {
      const check = new Redis(redisUrl);
      queued = String(await check.llen(outgoingListKey(bob.userId)).catch((e: unknown) => String(e)));
      check.disconnect();
    }
    return `(got ${got.length}, reconnects ${reconnects}, still queued in Redis ${queued})`;
  };
  try {
    await waitFor(`${expected} queued messages at bob`, () => got.length >= expected, progress);
    expect(reconnects).toBe(0);
    return got;
  } finally {
    await end(b);
  }
}

/**
 * Aedes acknowledges a publish before it stores it: wait until bob's retained bundle is in Redis
 * (aedes-persistence-redis 12 keeps retained messages in the hash `retained`).
 */
async function bundleStored(redisUrl: string, who: RelayIdentity): Promise<void> {
  const check = new Redis(redisUrl);
  try {
    await waitFor('the bundle in Redis', async () => (await check.hexists('retained', bundleTopic(who.userId))) === 1);
  } finally {
    check.disconnect();
  }
}

/** `p`, or a failure after `ms` that says what did not happen. */
async function within<T>(what: string, p: Promise<T>, progress: () => string = () => '', ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} ${progress()}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `predicate`; fails after `ms` saying what was awaited and how far it got (no 60 s mystery). */
async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, progress: () => string | Promise<string> = () => '', ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${await progress()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('broker nodes sharing one Redis', () => {
  it('alice on node A, bob on node B: 500 pipelined messages arrive live, in order; a bundle retained through B is read through A', async () => {
    const redis = await redisServer();
    const [a, b] = [await node(redis.url), await node(redis.url)];
    const [alice, bob] = [newIdentity(crypto), newIdentity(crypto)];
    const got: string[] = [];
    const bc = await connectAs(b.url, crypto, bob, { clean: false, onMessage: (_t, p) => got.push(p.toString()) });
    scope.defer(() => end(bc));
    await bc.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
    await bc.publishAsync(bundleTopic(bob.userId), 'bob-bundle', { qos: 1, retain: true });
    await bundleStored(redis.url, bob);

    const bundles: string[] = [];
    const ac = await connectAs(a.url, crypto, alice, { onMessage: (_t, p) => bundles.push(p.toString()) });
    scope.defer(() => end(ac));
    await ac.subscribeAsync(bundleTopic(bob.userId), { qos: 1 });
    await waitFor("bob's bundle through A", () => bundles.length >= 1);
    expect(bundles).toEqual(['bob-bundle']);

    let acked = 0;
    await Promise.all(range('m', 500).map((m) => ac.publishAsync(inboxTopic(bob.userId), m, { qos: 1 }).then(() => acked++)));
    const missing = () => `(PUBACKs ${acked}, received ${got.length}, first missing ${range('m', 500).find((m) => !got.includes(m))})`;
    await waitFor('500 messages at bob through B', () => got.length >= 500, missing);
    expect(got).toEqual(range('m', 500));
  });

  it('a queue of 1500 filled through A is delivered whole on one CONNECT through B (stock maxSessionDelivery: 1001)', async () => {
    const redis = await redisServer();
    const [a, b] = [await node(redis.url), await node(redis.url)];
    const [alice, bob, carol] = [newIdentity(crypto), newIdentity(crypto), newIdentity(crypto)];
    await offlineSubscriber(b.url, bob, [a.url]);
    await sendQueued(a.url, b.url, alice, bob, carol, range('q', 1500));
    const got = await collect(b.url, bob, 1500, redis.url);
    expect(got.length).toBe(1500);
    expect(new Set(got)).toEqual(new Set(range('q', 1500)));
  });

  it('a session moves between nodes: logging in on B ends the connection on A', async () => {
    const redis = await redisServer();
    const [a, b] = [await node(redis.url), await node(redis.url)];
    const bob = newIdentity(crypto);
    const first = await connectAs(a.url, crypto, bob, { clean: false });
    // B must have heard of this login first, or its late notice would end the newer session on B.
    await flushed(a.url, b.url);
    const gone = closed(first);
    const second = await connectAs(b.url, crypto, bob, { clean: false });
    scope.defer(() => end(first, second));
    await gone;
    expect(second.connected).toBe(true);
  });

  it('SIGKILL of the node that took the messages loses none; the restarted node carries new ones', async () => {
    const redis = await redisServer();
    const a = await nodeProcess(redis.url);
    const b = await node(redis.url);
    const [alice, bob, carol] = [newIdentity(crypto), newIdentity(crypto), newIdentity(crypto)];
    await offlineSubscriber(b.url, bob, [a.url]);
    await sendQueued(a.url, b.url, alice, bob, carol, range('k', 50));
    await a.kill();
    expect(a.child.signalCode).toBe('SIGKILL');
    const again = await nodeProcess(redis.url, a.port);
    await sendQueued(again.url, b.url, alice, bob, carol, range('r', 50));
    const got = await collect(b.url, bob, 100, redis.url);
    expect(got.length).toBe(100);
    expect(new Set(got)).toEqual(new Set([...range('k', 50), ...range('r', 50)]));
  });

  it('a Redis restart (AOF) keeps queued messages and retained bundles; the nodes reconnect by themselves', async () => {
    const redis = await redisServer();
    const [a, b] = [await node(redis.url), await node(redis.url)];
    const [alice, bob, carol] = [newIdentity(crypto), newIdentity(crypto), newIdentity(crypto)];
    await offlineSubscriber(b.url, bob, [a.url]);
    const bc = await connectAs(b.url, crypto, bob, { clean: false });
    await bc.publishAsync(bundleTopic(bob.userId), 'bob-bundle', { qos: 1, retain: true });
    await bundleStored(redis.url, bob);
    await end(bc);
    await sendQueued(a.url, b.url, alice, bob, carol, range('p', 30));
    await redis.stop();
    const restarted = await startRedis(redis.dir, redis.port, redis.password);
    scope.deferToEnd(() => restarted.stop()); // after the nodes have closed
    const got = await collect(b.url, bob, 30, redis.url);
    expect(new Set(got)).toEqual(new Set(range('p', 30)));
    const bundles: string[] = [];
    const ac = await connectAs(a.url, crypto, alice, { onMessage: (_t, p) => bundles.push(p.toString()) });
    scope.defer(() => end(ac));
    await ac.subscribeAsync(bundleTopic(bob.userId), { qos: 1 });
    await waitFor("bob's bundle after the Redis restart", () => bundles.length >= 1);
    expect(bundles).toEqual(['bob-bundle']);
  });
});

describe('limits across nodes', () => {
  it('the quota counts the queue in Redis: full through A means full through B, and drained through B means free through A', async () => {
    const redis = await redisServer();
    const [a, b] = [await node(redis.url, { maxQueuedPerClient: 5 }), await node(redis.url, { maxQueuedPerClient: 5 })];
    const [alice, bob, carol] = [newIdentity(crypto), newIdentity(crypto), newIdentity(crypto)];
    await offlineSubscriber(b.url, bob, [a.url]);
    await sendQueued(a.url, b.url, alice, bob, carol, range('f', 5));

    // Through B: acknowledged and discarded — B never saw those five enqueues, but Redis counts them.
    const viaB = await connectAs(b.url, crypto, alice);
    scope.defer(() => end(viaB));
    await viaB.publishAsync(inboxTopic(bob.userId), 'via-b', { qos: 1 });
    await sendQueued(b.url, b.url, alice, carol, carol, []); // barrier: via-b's enqueue, if any, is done
    const check = new Redis(redis.url);
    scope.defer(async () => check.disconnect());
    expect(await check.llen(outgoingListKey(bob.userId))).toBe(5);

    // Bob drains through B; then A admits again (a per-node tally on A would still say 5).
    expect(new Set(await collect(b.url, bob, 5, redis.url))).toEqual(new Set(range('f', 5)));
    while ((await check.llen(outgoingListKey(bob.userId))) > 0) await new Promise((r) => setTimeout(r, 10)); // his PUBACKs cleared
    const viaA = await connectAs(a.url, crypto, alice);
    scope.defer(() => end(viaA));
    await viaA.publishAsync(inboxTopic(bob.userId), 'after-drain', { qos: 1 });
    // Barrier: B has seen after-drain's live copy go by (bob offline) before bob reconnects. Without
    // it, the live copy could reach bob's just-restored subscription during his CONNECT: delivered
    // on top of the queued copy (a QoS 1 duplicate), and before broker/connack-first.ts, even ahead
    // of his CONNACK, which stalled mqtt.js into a CONNACK timeout.
    await sendQueued(a.url, b.url, alice, carol, carol, []);
    expect(await collect(b.url, bob, 1)).toEqual(['after-drain']);
  });

  it('the TTL is Redis key expiry: a message queued through A expires for a reader on B; a fresh one is delivered', async () => {
    const redis = await redisServer();
    const [a, b] = [await node(redis.url, { messageTtlMs: 1000 }), await node(redis.url, { messageTtlMs: 1000 })];
    const [alice, bob, carol] = [newIdentity(crypto), newIdentity(crypto), newIdentity(crypto)];
    await offlineSubscriber(b.url, bob, [a.url]);
    await sendQueued(a.url, b.url, alice, bob, carol, ['old']);
    const check = new Redis(redis.url);
    scope.defer(async () => check.disconnect());
    const [packetKey] = await check.lrange(outgoingListKey(bob.userId), 0, -1);
    expect(packetKey).toBeDefined();
    const ttl = await check.pttl(packetKey as string);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    // Wait for Redis to expire it (no clock assertion: we poll the key).
    while ((await check.exists(packetKey as string)) === 1) await new Promise((r) => setTimeout(r, 50));
    await sendQueued(a.url, b.url, alice, bob, carol, ['fresh']);
    expect(await collect(b.url, bob, 1)).toEqual(['fresh']);
  });
});

describe('daemons on different nodes', () => {
  it('alice through A and bob through B: bundles, messages and receipts both ways; a SIGKILLed node loses nothing', async () => {
    const redis = await redisServer();
    const a = await nodeProcess(redis.url);
    const b = await node(redis.url);
    const daemons = new RelayDaemons(crypto);
    scope.defer(() => scope.daemons.closeAll());
    const fastRetry = { outbox: { retryInitialMs: 500, retryMaxMs: 2000, tickMs: 100, maxAgeMs: 3600_000, stuckAfterPublishes: 1000 } };
    const alice = await scope.daemons.start({ brokerUrl: a.url, timing: fastRetry });
    let bob = await scope.daemons.start({ brokerUrl: b.url });

    const hello = await alice.daemon.backend.send({ to: bob.userId, body: text('hello across nodes') });
    await bob.log.until((l) => l.texts(alice.userId).includes('hello across nodes'), 'bob receives');
    await alice.log.until((l) => delivered(l, hello.messageId), 'receipt at alice');
    const reply = await bob.daemon.backend.send({ to: alice.userId, body: text('hello back') });
    await alice.log.until((l) => l.texts(bob.userId).includes('hello back'), 'alice receives');
    await bob.log.until((l) => delivered(l, reply.messageId), 'receipt at bob');

    // Bob offline; alice sends 20 through A; A dies at once (Aedes acks before it stores, so some
    // may not have reached Redis: alice's outbox resends those).
    await scope.daemons.stop(bob);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push((await alice.daemon.backend.send({ to: bob.userId, body: text(`c${i}`) })).messageId);
    await a.kill();
    await nodeProcess(redis.url, a.port); // same address: alice's daemon reconnects by itself
    bob = await scope.daemons.start({ brokerUrl: b.url, dataDir: bob.dataDir });
    await bob.log.until((l) => l.texts(alice.userId).filter((t) => t.startsWith('c')).length >= 20, 'bob has all 20', 30_000);
    const got = bob.log.messages(alice.userId).filter((m) => Buffer.from(m.body).toString().startsWith('c'));
    expect(got.map((m) => m.messageId)).toEqual(sent); // each once, in order
    await alice.log.until((l) => sent.every((id) => delivered(l, id)), 'all receipted', 30_000);
  });
});
