/**
 * Issue 6 item 3: a real daemon process (bob) under hostile input. After a real conversation with
 * alice (its envelopes and bundles, recorded by the tap, are the seed corpus):
 *  - an authenticated outsider publishes RATCHETD_FUZZ_COUNT (default 100,000) random and mutated
 *    envelopes and bundles to bob's inbox, pipelined QoS 1 (batches of 2,000) through the real
 *    broker process (fuzz-corpus.ts, seed 42), and bob must ack every one (the tap counts his
 *    PUBACKs: each was handled);
 *  - mutated bundles are served on the outsider's own bundle topic while bob's bot tries to write
 *    to her: every Send fails, nothing is kept;
 *  - malformed gRPC calls and raw garbage hit bob's API socket (grpc-fuzz.ts).
 * Then bob is still running and answering, his store's logical content is unchanged (compared
 * record by record through the store, see state-snapshot.ts for what may legitimately change:
 * sending chains for receipts, and a rate-limited session reset), and alice and bob still talk.
 */
import { chmod, cp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { buildBundle, createIdentity, createPrekeyState } from '../../core/index.ts';
import { bundleTopic, inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { fuzzPayloads, mulberry32, type Mutation } from './support/fuzz-corpus.ts';
import { fuzzGrpc } from './support/grpc-fuzz.ts';
import { connectMallory } from './support/mallory.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';
import { addedSessions, snapshotStore, unexplainedChanges, type StateSnapshot } from './support/state-snapshot.ts';

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

/** The store of a running daemon, read from a copy of its data dir taken while it is idle. */
async function liveSnapshot(n: SecNetwork, d: SecDaemon, label: string): Promise<StateSnapshot> {
  const copy = join(n.dir, `snapshot-${label}`);
  await cp(d.dataDir, copy, { recursive: true });
  await chmod(join(copy, 'store.key'), 0o600);
  return snapshotStore(crypto, copy);
}

describe(`fuzzing a daemon (seed ${SEED})`, () => {
  it(`survives ${COUNT} hostile envelopes, mutated bundles and malformed API calls with its state unchanged`, { timeout: 600_000 }, async () => {
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
    expect(corpus.filter((p) => p[1] === 0x02).length, 'handshake envelopes in the corpus').toBeGreaterThan(0);
    const before = await liveSnapshot(n, bob, 'before');

    // 1. the inbox flood
    const bobInbox = inboxTopic(bob.userId as UserId);
    let acked = 0;
    n.tap.setRecording(false);
    n.tap.onEvent((e) => {
      if (e.dir === 'up' && e.clientId === bob.userId && e.packet.cmd === 'puback') acked++;
    });
    const tally = new Map<Mutation, number>();
    const mallory = await connectMallory(crypto, n.brokerUrl);
    const floodStart = Date.now();
    let batch: Promise<unknown>[] = [];
    for (const payload of fuzzPayloads(SEED, COUNT, corpus, tally)) {
      batch.push(mallory.client.publishAsync(bobInbox, Buffer.from(payload), { qos: 1 }));
      if (batch.length === BATCH) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
    const published = Date.now();
    const deadline = Date.now() + 60_000 + COUNT * 2;
    while (acked < COUNT && Date.now() < deadline && bob.process.child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    const floodDone = Date.now();
    expect(bob.process.child.exitCode, `bob exited during the flood (seed ${SEED})`).toBeNull();
    expect(acked, `bob acked every fuzz message (seed ${SEED})`).toBeGreaterThanOrEqual(COUNT);
    n.tap.setRecording(true);

    // 2. mutated bundles on mallory's own topic while bob tries to write to her
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
    await mallory.client.endAsync();

    // 3. the local API
    const grpcStart = Date.now();
    const grpcReport = await fuzzGrpc(bob.socket, rng, { randomCallsPerMethod: 200, unknownUserId: createIdentity(crypto).userId });
    expect(grpcReport.acceptedBadSends).toEqual([]);
    // Every malformed call is refused as bad input, never answered as a server failure.
    expect(grpcReport.statuses['INTERNAL'] ?? 0, JSON.stringify(grpcReport.statuses)).toBe(0);
    expect(grpcReport.statuses['INVALID_ARGUMENT'] ?? 0).toBeGreaterThan(0);
    const grpcDone = Date.now();

    // still up, still answering, state unchanged
    expect(bob.process.child.exitCode).toBeNull();
    const status = await bob.client.getStatus();
    expect(status).toMatchObject({ brokerConnected: true, inboxDepth: 0, outboxDepth: 0, contacts: 1 });
    await new Promise((r) => setTimeout(r, 500)); // let background receipts/resets settle before copying
    const after = await liveSnapshot(n, bob, 'after');
    expect(unexplainedChanges(before, after), `seed ${SEED}`).toEqual([]);
    expect(bob.log.texts()).toEqual(['warm-up a0', 'warm-up a1', 'warm-up a2', 'warm-up a3']);

    // legitimate traffic flows, both ways, without a restart
    await exchange(alice, bob, 'after the storm');
    await exchange(bob, alice, 'still here');
    console.info(
      JSON.stringify({
        fuzz: { seed: SEED, envelopes: COUNT, broker: LEVEL_BROKER ? 'level' : 'memory', publishMs: published - floodStart, floodMs: floodDone - floodStart, perSecond: Math.round(COUNT / ((floodDone - floodStart) / 1000)) },
        mutations: Object.fromEntries(tally),
        bundleRefusals,
        bundleMs: grpcStart - bundlesStart,
        grpc: grpcReport,
        grpcMs: grpcDone - grpcStart,
        setupMs: floodStart - started,
        sessionResets: addedSessions(before, after),
        totalMs: Date.now() - started,
      }),
    );
  });
});
