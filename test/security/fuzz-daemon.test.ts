/**
 * A real daemon process (bob) under hostile input. After a real conversation with alice (its
 * envelopes and bundles, recorded by the tap, are the seed corpus), RATCHETD_FUZZ_COUNT (default
 * 100,000) random and mutated envelopes and bundles (fuzz-corpus.ts, seed 42) are sorted by what
 * the protocol core makes of them against bob's stored state (authenticity.ts):
 *  1. the unauthenticated ones are published to bob's inbox by an authenticated outsider, pipelined
 *     QoS 1 through the real broker; mutated bundles are served on the outsider's own bundle topic
 *     while bob's bot tries to write to her; malformed gRPC calls and raw garbage hit bob's API
 *     socket (grpc-fuzz.ts). Bob acks every envelope (the tap counts his PUBACKs), sends nothing
 *     (no PUBLISH from him on the tap), every Send to the outsider fails, no malformed call is
 *     answered INTERNAL; stopped (his close() waits for the work it started), his store is
 *     unchanged record by record, but for the bundle version his restart raised;
 *  2. the duplicates (an authentic header of a message already received: exact replays, and
 *     replayed headers with any body) are published the same way: bob answers them with receipts
 *     to alice (the sender may be retransmitting because a receipt was lost; at most one per
 *     DUPLICATE_RECEIPT_INTERVAL_MS), which change exactly his sending chain towards alice;
 *  3. alice and bob still talk.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { buildBundle, createIdentity, createPrekeyState } from '../../core/index.ts';
import { bundleTopic, inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { authenticityJudge, type Authenticity } from './support/authenticity.ts';
import { readDaemonState } from './support/daemon-state.ts';
import { fuzzPayloads, mulberry32, type Mutation } from './support/fuzz-corpus.ts';
import { fuzzGrpc } from './support/grpc-fuzz.ts';
import { connectMallory, type Mallory } from './support/mallory.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';
import { bundleVersionRaised, sendingChainOnly, snapshotStore, storeDifferences } from './support/state-snapshot.ts';
import type { TapEvent } from './support/tcp-tap.ts';

const SEED = 42;
const COUNT = Number(process.env['RATCHETD_FUZZ_COUNT'] ?? 100_000);
const BATCH = 2_000;
/**
 * The daemon is the target: by default the broker keeps its queues in memory (about 3× faster
 * floods). RATCHETD_FUZZ_LEVEL_BROKER=1 runs the broker on LevelDB as in production.
 */
const LEVEL_BROKER = process.env['RATCHETD_FUZZ_LEVEL_BROKER'] === '1';
const crypto = await createSodiumCrypto();
let net: SecNetwork | undefined;

afterAll(async () => {
  await net?.stop();
});

/** From now on: bob's PUBACKs of envelopes on his inbox (each: one handled) and his PUBLISHes. */
function watchBob(n: SecNetwork, bob: SecDaemon) {
  const inbox = inboxTopic(bob.userId as UserId);
  const inboxDeliveries = new Set<string>(); // connection:messageId of inbox envelopes sent to bob
  let acked = 0;
  const published: TapEvent[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;
  n.tap.onEvent((e) => {
    if (e.clientId !== bob.userId) return;
    if (e.dir === 'down' && e.packet.cmd === 'publish' && e.packet.topic === inbox) inboxDeliveries.add(`${e.conn}:${e.packet.messageId}`);
    if (e.dir !== 'up') return;
    if (e.packet.cmd === 'publish') published.push(e);
    if (e.packet.cmd !== 'puback' || !inboxDeliveries.delete(`${e.conn}:${e.packet.messageId}`)) return;
    acked++;
    if (waiter !== undefined && acked >= waiter.count) waiter.resolve();
  });
  return {
    published,
    get acked() {
      return acked;
    },
    /** Resolves when bob has acked `count` inbox envelopes in all; rejects if he exits first. */
    ackedAll(count: number): Promise<void> {
      if (acked >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiter = { count, resolve };
        void bob.process.exited.then(() => reject(new Error(`bob exited after acking ${acked} of ${count} (seed ${SEED})`)));
      });
    },
  };
}

async function flood(mallory: Mallory, bob: SecDaemon, payloads: readonly Uint8Array[]): Promise<void> {
  const inbox = inboxTopic(bob.userId as UserId);
  for (let i = 0; i < payloads.length; i += BATCH) {
    await Promise.all(payloads.slice(i, i + BATCH).map((p) => mallory.client.publishAsync(inbox, Buffer.from(p), { qos: 1 })));
  }
}

/** Stops bob (SIGTERM: close() waits for the work he started) and reads his store. */
async function stoppedSnapshot(n: SecNetwork, bob: SecDaemon) {
  await n.stopDaemon(bob);
  return snapshotStore(crypto, bob.dataDir);
}

/** Starts bob again and waits until his fresh bundle (every start stores and publishes one) is on the wire. */
async function restart(n: SecNetwork, bob: SecDaemon): Promise<void> {
  const from = n.tap.events.length;
  await n.startDaemon(bob.name);
  const topic = bundleTopic(bob.userId as UserId);
  await n.tap.waitFor((e) => e.seq >= from && e.dir === 'up' && e.clientId === bob.userId && e.packet.cmd === 'publish' && e.packet.topic === topic, "bob's bundle after the restart");
}

describe(`fuzzing a daemon (seed ${SEED})`, () => {
  it(`${COUNT} hostile envelopes, mutated bundles and malformed API calls change nothing; replayed authentic headers change only the sending chain`, { timeout: 600_000 }, async () => {
    const started = Date.now();
    net = await startSecNetwork({ brokerArgs: LEVEL_BROKER ? [] : ['--persistence', 'memory'] });
    const n = net;
    const [alice, bob] = await Promise.all([n.startDaemon('alice'), n.startDaemon('bob')]);
    for (let i = 0; i < 3; i++) await exchange(alice, bob, `warm-up a${i}`);
    for (let i = 0; i < 3; i++) await exchange(bob, alice, `warm-up b${i}`);
    await exchange(alice, bob, 'warm-up a3');
    // bob republishes his bundle once alice's handshake consumed a one-time prekey (debounced)
    await n.tap.waitFor((e) => e.clientId === bob.userId && e.packet.cmd === 'publish' && e.packet.topic === bundleTopic(bob.userId as UserId) && n.tap.publishes('up', bob.userId).filter((p) => p.topic.includes('/bundle/')).length >= 2, "bob's second bundle");
    const corpus = n.tap.publishes('up').filter((p) => p.payload.length > 0).map((p) => new Uint8Array(p.payload));
    expect(corpus.filter((p) => (p[1] === 0x02 || p[1] === 0x04)).length, 'handshake envelopes in the corpus').toBeGreaterThan(0);

    // bob's state before, and the core's verdict on every payload against it
    const before = await stoppedSnapshot(n, bob);
    const judge = authenticityJudge(crypto, await readDaemonState(crypto, bob.dataDir), Date.now());
    const tally = new Map<Mutation, number>();
    const classes: Record<Authenticity, Uint8Array[]> = { unauthenticated: [], duplicate: [], authentic: [], accepted: [] };
    for (const payload of fuzzPayloads(SEED, COUNT, corpus, tally)) classes[judge(payload)].push(payload);
    expect(classes.accepted.length, `fuzz payloads the core would deliver (seed ${SEED})`).toBe(0);
    expect(classes.authentic.length, `fuzz payloads with an authentic header that are no copy (seed ${SEED})`).toBe(0);
    expect(classes.duplicate.length, 'replayed authentic headers in the fuzz').toBeGreaterThan(0);
    await restart(n, bob);
    const watch = watchBob(n, bob);
    const mallory = await connectMallory(crypto, n.brokerUrl);

    // 1a. the unauthenticated envelopes
    const floodStart = Date.now();
    await flood(mallory, bob, classes.unauthenticated);
    await watch.ackedAll(classes.unauthenticated.length);
    const floodDone = Date.now();

    // 1b. mutated bundles on mallory's own topic while bob tries to write to her
    const bundlesStart = Date.now();
    const rng = mulberry32(SEED + 1);
    const malloryId = mallory.identity;
    const real = buildBundle(crypto, malloryId, createPrekeyState(crypto, Date.now()), Date.now()).bundle;
    let bundleRefusals = 0;
    for (const [i, bad] of [...fuzzPayloads(SEED + 2, 200, [real], new Map())].entries()) {
      if (Buffer.from(bad).equals(Buffer.from(real))) continue;
      await mallory.client.publishAsync(bundleTopic(malloryId.userId), Buffer.from(bad), { qos: 1, retain: true });
      const ok = await bob.client.send({ to: malloryId.userId, body: `try ${i}` }).then(
        () => true,
        () => false,
      );
      expect(ok, `a mutated bundle was accepted (seed ${SEED + 2}, #${i})`).toBe(false);
      bundleRefusals++;
    }

    // 1c. the local API
    const grpcStart = Date.now();
    const grpcReport = await fuzzGrpc(bob.socket, rng, { randomCallsPerMethod: 200, unknownUserId: createIdentity(crypto).userId });
    expect(grpcReport.acceptedBadSends).toEqual([]);
    // Every malformed call is refused as bad input, never answered as a server failure.
    expect(grpcReport.statuses['INTERNAL'] ?? 0, JSON.stringify(grpcReport.statuses)).toBe(0);
    expect(grpcReport.statuses['INVALID_ARGUMENT'] ?? 0).toBeGreaterThan(0);
    expect(grpcReport.rawConnectionsLeftOpen, 'raw garbage connections the daemon did not close').toBe(0);
    expect(grpcReport.receiveOutcomes, 'Receive with absurd cursors').toEqual(['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    const grpcDone = Date.now();

    // still up and answering; then stopped: nothing he started is left undone
    expect(bob.process.child.exitCode).toBeNull();
    expect(await bob.client.getStatus()).toMatchObject({ brokerConnected: true, inboxDepth: 0, outboxDepth: 0, contacts: 1 });
    const afterGarbage = await stoppedSnapshot(n, bob);
    expect(
      {
        published: watch.published.map((e) => (e.packet.cmd === 'publish' ? e.packet.topic : '')),
        storeChanges: storeDifferences(before, afterGarbage, { 'prekeys/self': bundleVersionRaised(1) }),
      },
      `what unauthenticated input made bob do (seed ${SEED})`,
    ).toEqual({ published: [], storeChanges: [] });

    // 2. the duplicates: answered by receipts to alice, which move only bob's sending chain to her
    await restart(n, bob);
    const publishedBeforeReplays = watch.published.length; // after the restart's own bundle
    await flood(mallory, bob, classes.duplicate);
    await watch.ackedAll(classes.unauthenticated.length + classes.duplicate.length);
    await mallory.client.endAsync();
    const afterReplays = await stoppedSnapshot(n, bob);
    let receiptsCommitted = 0;
    expect(
      storeDifferences(afterGarbage, afterReplays, {
        'prekeys/self': bundleVersionRaised(1),
        [`peer/${alice.userId}`]: sendingChainOnly((sent) => (receiptsCommitted = sent)),
      }),
      `seed ${SEED}`,
    ).toEqual([]);
    const answers = watch.published.slice(publishedBeforeReplays).map((e) => (e.packet.cmd === 'publish' ? { topic: e.packet.topic, kind: Buffer.from(e.packet.payload)[1] } : undefined));
    expect(answers.length, 'receipts published').toBeGreaterThan(0);
    expect(answers.length).toBeLessThanOrEqual(receiptsCommitted);
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ topic: inboxTopic(alice.userId as UserId), kind: 0x01 })]));
    expect(bob.log.texts()).toEqual(['warm-up a0', 'warm-up a1', 'warm-up a2', 'warm-up a3']);

    // 3. legitimate traffic flows, both ways
    await n.startDaemon(bob.name);
    await exchange(alice, bob, 'after the storm');
    await exchange(bob, alice, 'still here');
    console.info(
      JSON.stringify({
        fuzz: { seed: SEED, envelopes: COUNT, unauthenticated: classes.unauthenticated.length, duplicates: classes.duplicate.length, broker: LEVEL_BROKER ? 'level' : 'memory', floodMs: floodDone - floodStart, perSecond: Math.round(classes.unauthenticated.length / ((floodDone - floodStart) / 1000)) },
        mutations: Object.fromEntries(tally),
        bundleRefusals,
        bundleMs: grpcStart - bundlesStart,
        grpc: grpcReport,
        grpcMs: grpcDone - grpcStart,
        receiptsCommitted,
        receiptsPublished: answers.length,
        totalMs: Date.now() - started,
      }),
    );
  });
});
