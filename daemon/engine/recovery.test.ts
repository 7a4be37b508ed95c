import { describe, expect, it } from 'vitest';
import { engineTestScope } from './test-scope.ts';
import { toHex } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import type { UserId } from '../../core/user-id.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { createMemoryBackend } from '../store/memory-backend.ts';
import { DEFAULT_OUTBOX_POLICY } from './outbox.ts';
import { createDaemon } from './daemon.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { TRANSCRIPT_GAP_MAX_AGE_MS } from '../../core/transcript.ts';
import { silentLogger, text } from './test-support.ts';

const scope = engineTestScope();

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && Buffer.from(a).equals(Buffer.from(b));

/** Resolves when check() holds (looked at every 5 ms); fails after a deadline. */
async function until(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A relay wrapper that records every bundle fetch (by user id). */
function countFetches(log: UserId[]): (t: RelayTransport) => RelayTransport {
  return (t) =>
    new Proxy(t, {
      get(target, prop) {
        if (prop === 'fetchBundle') return (id: UserId) => (log.push(id), target.fetchBundle(id));
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
}

/** Every 4-byte random draw is zero: randomIndex always picks the bundle's first one-time prekey. */
function firstPrekeyPicker(crypto: Crypto): Crypto {
  return { ...crypto, randomBytes: (n) => (n === 4 ? new Uint8Array(4) : crypto.randomBytes(n)) };
}

describe('store failure', () => {
  it('a write that fails is fatal: nothing acked, calls refused; after a restart the message arrives', async () => {
    const alice = await scope.start();
    const backend = createMemoryBackend();
    const storeKey = scope.net.crypto.randomBytes(32);
    let failWrites = false;
    const bobTiming = { connectWaitMs: 1000, receiptDelayMs: 1 };
    const bobDaemon = createDaemon({
      dataDir: '/nonexistent-test-data-dir',
      brokerUrl: 'fake://relay',
      logger: silentLogger,
      crypto: scope.net.crypto,
      openStore: async (c) => {
        const store = await openMemoryStore(c, storeKey, backend.reopen());
        return { ...store, schemaVersion: store.schemaVersion, batch: (ops) => (failWrites ? Promise.reject(new Error('disk full')) : store.batch(ops)) };
      },
      relay: (id) => scope.net.hub.transport(id),
      timing: bobTiming,
      onFatal: (err) => fatalErrors.push(err),
    });
    const fatalErrors: unknown[] = [];
    const { userId: bobId } = await bobDaemon.start();
    failWrites = true;
    await alice.daemon.backend.send({ to: bobId, body: text('during the outage') });
    for (let i = 0; i < 500; i++) {
      const refused = await bobDaemon.backend.getStatus().then(() => false, (e: { code?: string }) => e.code === 'NotReady');
      if (refused) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    await expect(bobDaemon.backend.getStatus()).rejects.toMatchObject({ code: 'NotReady' });
    expect(scope.net.hub.queued(bobId)).toBe(1); // not acked: still queued at the relay
    expect(fatalErrors).toHaveLength(1);
    await bobDaemon.close();
    failWrites = false;
    const bob = await scope.start({ backend, storeKey, timing: bobTiming });
    await bob.log.until((l) => l.texts().includes('during the outage'), 'delivered after the restart');
  });
});

describe('recovery', () => {
  it('an initiator that loses the one-time-prekey race sees it in the signed bundle and re-sends on a fresh session; the message arrives once', async () => {
    // alice checks her unanswered handshake quickly (50 ms after the broker took it)
    const quick = { handshakeAnswerWaitMs: 50, outbox: { ...DEFAULT_OUTBOX_POLICY, tickMs: 10 } };
    const bob = await scope.start({ timing: { bundleDebounceMs: 5 } });
    const carol = await scope.start({ crypto: firstPrekeyPicker(scope.net.crypto) });
    const alice = await scope.start({ crypto: firstPrekeyPicker(scope.net.crypto), timing: quick });
    const before = scope.net.hub.retained.get(bob.userId)!;
    await carol.daemon.backend.send({ to: bob.userId, body: text('carol first') });
    await bob.log.until((l) => l.texts(carol.userId).length === 1, 'carol arrives');
    await until(() => !sameBytes(scope.net.hub.retained.get(bob.userId), before), "bob's bundle without carol's one-time prekey");
    const after = scope.net.hub.retained.get(bob.userId)!;
    // alice is served the bundle of a moment ago (as a lagging broker would): its first one-time
    // prekey is carol's, already consumed
    scope.net.hub.retained.set(bob.userId, before);
    const fromAlice = scope.net.hub.published.length; // carol is quiet from here on: what goes to bob is alice's
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('alice lost the race') });
    scope.net.hub.retained.set(bob.userId, after);
    await bob.log.until((l) => l.texts(alice.userId).length === 1, 'alice arrives on her fresh session');
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), 'delivered');
    await scope.net.hub.idle();
    expect(bob.log.texts(alice.userId)).toEqual(['alice lost the race']);
    expect(bob.log.messages(alice.userId)[0]!.messageId).toBe(messageId);
    // bob did nothing on the strength of the handshake he could not use: no session towards alice
    // (a reset would be a handshake envelope to her), only replies on the session she started
    expect(scope.net.hub.published.filter((p) => p.to === alice.userId && (p.envelope[1] === 2 || p.envelope[1] === 4))).toEqual([]);
    // alice made two handshakes: the lost one and the fresh one
    const aliceHandshakes = scope.net.hub.published.slice(fromAlice).filter((p) => p.to === bob.userId && (p.envelope[1] === 2 || p.envelope[1] === 4));
    expect(new Set(aliceHandshakes.map((p) => toHex(p.envelope.subarray(2, 34)))).size).toBe(2);
    // and the conversation goes on normally
    await bob.daemon.backend.send({ to: alice.userId, body: text('got it') });
    await alice.log.until((l) => l.texts(bob.userId).includes('got it'), 'reply');
  });

  it('an unanswered handshake whose prekeys the bundle still offers is left alone (the peer is only offline)', async () => {
    const fetched: UserId[] = [];
    const quick = { handshakeAnswerWaitMs: 20, outbox: { ...DEFAULT_OUTBOX_POLICY, tickMs: 10 } };
    let bob = await scope.start();
    const alice = await scope.start({ timing: quick, wrapRelay: countFetches(fetched) });
    await scope.stop(bob);
    await alice.daemon.backend.send({ to: bob.userId, body: text('while you were away') });
    // the send fetched the bundle once; the check fetches it again
    await until(() => fetched.filter((id) => id === bob.userId).length >= 2, 'the handshake check');
    bob = await scope.restart(bob);
    await bob.log.until((l) => l.texts(alice.userId).length === 1, 'delivered when bob is back');
    await scope.net.hub.idle();
    const handshakes = scope.net.hub.published.filter((p) => p.to === bob.userId && (p.envelope[1] === 2 || p.envelope[1] === 4));
    expect(new Set(handshakes.map((p) => toHex(p.envelope.subarray(2, 34)))).size).toBe(1); // one X3DH, never replaced
    expect(bob.log.texts(alice.userId)).toEqual(['while you were away']);
  });

  it('a daemon restored from an old backup: unacknowledged messages are re-sent on a fresh session and arrive', async () => {
    const alice = await scope.start({ timing: { reestablishIntervalMs: 100, outbox: { ...DEFAULT_OUTBOX_POLICY, retryInitialMs: 20, tickMs: 10, stuckAfterPublishes: 2 } } });
    const bobTiming = { transcriptWaitMs: 50 };
    let bob = await scope.start({ timing: bobTiming });
    await alice.daemon.backend.send({ to: bob.userId, body: text('a1') });
    await bob.log.until((l) => l.texts().length === 1, 'a1');
    await bob.daemon.backend.send({ to: alice.userId, body: text('b1') });
    await alice.log.until((l) => l.texts().length === 1, 'b1');
    await scope.net.hub.idle();
    // back up bob's disk now
    await scope.stop(bob);
    const backup = new Map([...bob.backend.data].map(([k, v]) => [k, v.slice()] as const));
    bob = await scope.restart(bob, { timing: bobTiming });
    // more ratchet steps both ways
    for (let i = 2; i <= 3; i++) {
      await alice.daemon.backend.send({ to: bob.userId, body: text(`a${i}`) });
      await bob.log.until((l) => l.texts().includes(`a${i}`), `a${i}`);
      await bob.daemon.backend.send({ to: alice.userId, body: text(`b${i}`) });
      await alice.log.until((l) => l.texts().includes(`b${i}`), `b${i}`);
    }
    await scope.net.hub.idle();
    // bob's disk is replaced by the backup (his newer ratchet keys are gone)
    await scope.stop(bob);
    const restored = createMemoryBackend(backup);
    bob = await scope.start({ backend: restored, storeKey: bob.storeKey, timing: bobTiming });
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('after restore') });
    await bob.log.until((l) => l.texts().includes('after restore'), 'message after the restore');
    // bob lost a2 and a3 with the backup: his cumulative receipt stops below that gap until he gives
    // the gap up (a day later); then alice learns 'after restore' was delivered
    scope.net.clock.offsetMs += TRANSCRIPT_GAP_MAX_AGE_MS + 60_000;
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), 'delivered');
    expect(bob.log.texts().filter((t) => t === 'after restore')).toHaveLength(1);
    // (bob's own transcript is behind alice's view of it after the restore: what he sends now reuses
    // sequence numbers alice already released, which the core reports as a fork; see the report.)
  });
});
