/**
 * Skipped message keys of a session that goes quiet expire after SKIPPED_KEY_MAX_AGE_MS even though
 * nothing is sent or received on it again: the sweep runs at start and on its timer (injected clock).
 * Bob gets alice's message 2 without message 1 (the relay "loses" it), so his session keeps one
 * skipped key; then nobody writes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { peerSkippedKeyCount } from '../../core/index.ts';
import { SKIPPED_KEY_MAX_AGE_MS } from '../../core/limits.ts';
import type { UserId } from '../../core/user-id.ts';
import type { RelayTransport } from '../relay/transport.ts';
import type { EngineTiming } from './config.ts';
import { PeerStore } from './peers.ts';
import { createTestNet, openStoppedStore, restartTestDaemon, silentLogger, startTestDaemon, text, type TestDaemon, type TestNet } from './test-support.ts';

const DAY = 24 * 3600_000;
/** Alice stays a contact however long she is quiet (idle unverified contacts are forgotten after 30 days by default). */
const BOB_TIMING: Partial<EngineTiming> = { transcriptWaitMs: 20, contactIdleRetentionMs: 365 * DAY };

let net: TestNet;
const running: TestDaemon[] = [];

beforeEach(async () => {
  net = await createTestNet();
});
afterEach(async () => {
  for (const d of running.splice(0)) {
    d.unsubscribe();
    await d.daemon.close();
  }
});

/** Alice's transport with a switch: while `losing`, envelopes to bob are taken and never delivered (also retransmissions). */
function lossyRelay(state: { losing: boolean; lost: Set<string> }): (t: RelayTransport) => RelayTransport {
  return (t) =>
    new Proxy(t, {
      get(target, prop, receiver) {
        if (prop !== 'publishEnvelope') return Reflect.get(target, prop, receiver) as unknown;
        return async (to: UserId, envelope: Uint8Array): Promise<void> => {
          const hex = Buffer.from(envelope).toString('hex');
          if (state.losing) state.lost.add(hex);
          if (state.lost.has(hex)) return;
          return target.publishEnvelope(to, envelope);
        };
      },
    });
}

/** Waits for a condition (polled), failing with `what` after a deadline. */
async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Skipped keys bob's store holds for alice (read through a second store on the same memory backend). */
async function storedSkippedKeys(bob: TestDaemon, alice: UserId): Promise<number> {
  const store = await openStoppedStore(net, bob);
  try {
    const { record } = await new PeerStore(net.crypto, store, silentLogger).load(alice);
    if (record === null) throw new Error('bob has no record of alice');
    return peerSkippedKeyCount(record);
  } finally {
    await store.close();
  }
}

/** Bob ends up with one skipped key in his session with alice, and alice is stopped. */
async function quietSessionWithASkippedKey(bobTiming: Partial<EngineTiming>): Promise<{ bob: TestDaemon; alice: UserId }> {
  const bob = await startTestDaemon(net, { timing: { ...BOB_TIMING, ...bobTiming } });
  running.push(bob);
  const relay = { losing: false, lost: new Set<string>() };
  const alice = await startTestDaemon(net, { wrapRelay: lossyRelay(relay) });
  running.push(alice);
  await alice.daemon.backend.send({ to: bob.userId, body: text('m0') });
  await bob.log.until((l) => l.texts(alice.userId).includes('m0'), 'the first message');
  await net.hub.idle(); // bob's receipt reached alice: her session no longer carries the handshake
  relay.losing = true;
  await alice.daemon.backend.send({ to: bob.userId, body: text('m1 (lost)') });
  relay.losing = false;
  await alice.daemon.backend.send({ to: bob.userId, body: text('m2') });
  await bob.log.until((l) => l.texts(alice.userId).includes('m2'), 'm2, released past the hole after transcriptWaitMs');
  expect(bob.log.texts(alice.userId)).toEqual(['m0', 'm2']);
  running.splice(running.indexOf(alice), 1);
  alice.unsubscribe();
  await alice.daemon.close();
  // A restart drops bob's pending receipt timers: from now on nothing encrypts or decrypts on the
  // session (either would expire its keys itself), so only the sweep can.
  const quiet = await restartTestDaemon(net, bob, { timing: { ...BOB_TIMING, ...bobTiming } });
  running[running.indexOf(bob)] = quiet;
  expect(await storedSkippedKeys(quiet, alice.userId)).toBe(1);
  return { bob: quiet, alice: alice.userId };
}

describe('skipped keys of quiet sessions', () => {
  it('are expired by the sweep at start once older than SKIPPED_KEY_MAX_AGE_MS, not before', async () => {
    let { bob, alice } = await quietSessionWithASkippedKey({});
    const restart = async (): Promise<void> => {
      const again = await restartTestDaemon(net, bob, { timing: BOB_TIMING });
      running[running.indexOf(bob)] = again;
      bob = again;
      // close() waits for the start sweep, so what the store holds afterwards is its result
      running.splice(running.indexOf(bob), 1);
      bob.unsubscribe();
      await bob.daemon.close();
    };

    net.clock.offsetMs = SKIPPED_KEY_MAX_AGE_MS - DAY;
    await restart();
    expect(await storedSkippedKeys(bob, alice)).toBe(1);

    net.clock.offsetMs = SKIPPED_KEY_MAX_AGE_MS + 60_000;
    await restart();
    expect(await storedSkippedKeys(bob, alice)).toBe(0);
  });

  it('are expired by the timer while the daemon runs, and counted in the metrics', async () => {
    const { bob, alice } = await quietSessionWithASkippedKey({ skippedKeySweepMs: 5 });
    expect(bob.daemon.metrics()?.skippedKeysExpired).toBe(0);

    net.clock.offsetMs = SKIPPED_KEY_MAX_AGE_MS + 60_000;
    await until(() => bob.daemon.metrics()?.skippedKeysExpired === 1, 'the timer sweep');
    expect(await storedSkippedKeys(bob, alice)).toBe(0);
    // The conversation goes on after the sweep.
    expect((await bob.daemon.backend.listContacts()).map((c) => c.userId)).toContain(alice);
  });
});
