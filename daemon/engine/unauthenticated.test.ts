/**
 * Nothing an unauthenticated envelope claims makes the daemon act (engine level, in-process relay):
 * forged handshakes naming a contact, a stranger with a published bundle or random ids, and the
 * relay's damaged session envelopes are acked and dropped without any state change, message, bundle
 * fetch or new contact; an authenticated condition (TooFarAhead on the active session) still resets;
 * a flood naming a contact whose stored state is corrupt is held only up to the quarantine's bound.
 */
import { describe, expect, it } from 'vitest';
import { engineTestScope } from './test-scope.ts';
import { toHex } from '../../core/bytes.ts';
import { createIdentity, decodeIdentity, verifyBundle, type LocalIdentity, type PeerRecord } from '../../core/index.ts';
import type { UserId } from '../../core/user-id.ts';
import { damageSessionEnvelope, forgeHandshake, messageTooFarAhead } from '../../test/security/support/forge.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { MAX_QUARANTINED_BYTES_PER_PEER } from './quarantine.ts';
import { DUPLICATE_RECEIPT_INTERVAL_MS } from './receiver.ts';
import { PeerStore } from './peers.ts';
import { openStoppedStore, silentLogger, text, type TestDaemon } from './test-support.ts';

const scope = engineTestScope();

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

/** Resolves when check() holds (looked at every 5 ms); fails after a deadline. */
async function until(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Anyone on the relay: publishes whatever she likes to any inbox. */
async function connectMallory(): Promise<RelayTransport> {
  const t = scope.net.hub.transport(createIdentity(scope.net.crypto).userId);
  t.onEnvelope(async () => undefined);
  t.start();
  await t.whenConnected();
  return t;
}

/** a → b, until b has it and a has b's receipt for it (so no receipt is still on its way). */
async function exchange(a: TestDaemon, b: TestDaemon, body: string): Promise<void> {
  const { messageId } = await a.daemon.backend.send({ to: b.userId, body: text(body) });
  await b.log.until((l) => l.texts(a.userId).includes(body), `${body} arrives`);
  await a.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), `${body} delivered`);
  await scope.net.hub.idle();
}

const snapshot = (d: TestDaemon): Map<string, string> => new Map([...d.backend.data].map(([k, v]) => [k, toHex(v)]));
const bundleOf = (d: TestDaemon) => verifyBundle(scope.net.crypto, scope.net.hub.retained.get(d.userId)!, d.userId, Date.now() + scope.net.clock.offsetMs);

async function stateOf(d: TestDaemon, peer: UserId): Promise<{ identity: LocalIdentity; record: PeerRecord }> {
  const store = await openStoppedStore(scope.net, d);
  try {
    const identity = decodeIdentity(scope.net.crypto, (await store.get('identity', 'self'))!);
    const { record } = await new PeerStore(scope.net.crypto, store, silentLogger).load(peer);
    return { identity, record: record! };
  } finally {
    await store.close();
  }
}

describe('unauthenticated envelopes', () => {
  it('forged handshakes (a contact, a stranger with a bundle, random ids) and damaged session envelopes: acked, dropped, nothing changes, nothing is sent', async () => {
    const fetchedByBob: UserId[] = [];
    const alice = await scope.start();
    const bob = await scope.start({ wrapRelay: countFetches(fetchedByBob) });
    const xavier = await scope.start();
    await exchange(alice, bob, 'hello bob');
    await exchange(bob, alice, 'hello alice');
    await exchange(alice, bob, 'on the answered session');
    const sessionEnvelopes = scope.net.hub.published.filter((p) => p.to === bob.userId && p.envelope[1] === 1).map((p) => p.envelope);
    expect(sessionEnvelopes.length).toBeGreaterThan(0);
    const bobBundle = bundleOf(bob);
    const named = [alice, xavier].map((d) => bundleOf(d).identityKey);

    const forged: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const otpk = bobBundle.oneTimePrekeys[i % bobBundle.oneTimePrekeys.length]!.id;
      for (const claimed of [...named, createIdentity(scope.net.crypto).keyPair.publicKey]) {
        const base = { recipientIdentityKey: bobBundle.identityKey, claimedIdentityKey: claimed };
        // unknown prekey ids (StalePrekey), and bob's real ones with no key agreement behind them (BadMessage)
        forged.push(forgeHandshake(scope.net.crypto, { ...base, signedPrekeyId: 0x7fff_0000 + i, oneTimePrekeyId: 0x7fff_0000 + i }));
        forged.push(forgeHandshake(scope.net.crypto, { ...base, signedPrekeyId: bobBundle.signedPrekey.id, oneTimePrekeyId: otpk }));
        forged.push(forgeHandshake(scope.net.crypto, { ...base, signedPrekeyId: bobBundle.signedPrekey.id, oneTimePrekeyId: null }));
      }
      forged.push(damageSessionEnvelope(sessionEnvelopes[i % sessionEnvelopes.length]!, 'header', 7 * i)); // the relay's doing
    }

    await scope.net.hub.idle();
    const before = { bob: snapshot(bob), published: scope.net.hub.published.length, fetched: fetchedByBob.length };
    const bundles = [alice, xavier].map((d) => toHex(scope.net.hub.retained.get(d.userId)!));
    const mallory = await connectMallory();
    for (const f of forged) await mallory.publishEnvelope(bob.userId, f);
    await scope.net.hub.idle();

    expect(scope.net.hub.queued(bob.userId)).toBe(0); // every one acked
    expect(snapshot(bob)).toEqual(before.bob); // bob's store is byte for byte what it was
    expect(scope.net.hub.published.slice(before.published).every((p) => p.to === bob.userId)).toBe(true); // nothing sent by bob
    expect(fetchedByBob.length).toBe(before.fetched); // no bundle fetched
    expect((await bob.daemon.backend.listContacts()).map((c) => c.userId)).toEqual([alice.userId]);
    expect([alice, xavier].map((d) => toHex(scope.net.hub.retained.get(d.userId)!))).toEqual(bundles); // no one-time prekey used
    expect(await xavier.daemon.backend.listContacts()).toEqual([]);
    expect(bob.log.texts()).toEqual(['hello bob', 'on the answered session']);

    await exchange(alice, bob, 'still fine');
    await exchange(bob, alice, 'yes');
  });

  it('copies of envelopes already received (replayed, or with a damaged body: Duplicate) get one receipt per interval, not one each', async () => {
    let bobNow = Date.now();
    const alice = await scope.start();
    const bob = await scope.start({ clock: () => bobNow });
    for (let i = 0; i < 3; i++) await exchange(alice, bob, `a${i}`);
    await exchange(bob, alice, 'b0');
    await exchange(alice, bob, 'a3');
    // the newest session envelope alice sent bob (bob still keeps its header key: older ones age out)
    const newest = () => scope.net.hub.published.filter((p) => p.to === bob.userId && p.envelope[1] === 1).at(-1)!.envelope;
    const toAlice = () => scope.net.hub.published.filter((p) => p.to === alice.userId).length;
    const before = toAlice();
    const mallory = await connectMallory();
    const copies = 6;
    for (let i = 0; i < copies; i++) {
      const e = newest();
      await mallory.publishEnvelope(bob.userId, i % 2 === 0 ? e : damageSessionEnvelope(e, 'body', i));
      await scope.net.hub.idle();
      // bob → alice and back: a receipt bob decided to send for the copy leaves before this message's
      // receipt is back (its timer was set first, and it takes the peer lock first)
      await exchange(bob, alice, `barrier ${i}`);
    }
    expect(toAlice() - before - copies).toBeLessThanOrEqual(1); // one receipt for all the copies
    expect(bob.log.texts(alice.userId)).toEqual(['a0', 'a1', 'a2', 'a3']);
    // a copy after the interval is answered (a genuine retransmission must be)
    bobNow += DUPLICATE_RECEIPT_INTERVAL_MS;
    const beforeLate = toAlice();
    await mallory.publishEnvelope(bob.userId, newest());
    await until(() => toAlice() > beforeLate, 'a receipt for the late copy');
  });

  it('TooFarAhead on the active session (its header authenticates) resets it; a replayed copy, now on an archived session, does not', async () => {
    const alice0 = await scope.start();
    // no per-peer reset interval: only the rules below can stop a second reset
    const bob = await scope.start({ timing: { resetIntervalMs: 0 } });
    await exchange(alice0, bob, 'a1');
    await exchange(bob, alice0, 'b1');
    await scope.stop(alice0);
    const { identity, record } = await stateOf(alice0, bob.userId);
    const alice = await scope.restart(alice0);
    const far = messageTooFarAhead(scope.net.crypto, identity, record, Date.now() + scope.net.clock.offsetMs);
    const bobHandshakesToAlice = () => scope.net.hub.published.filter((p) => p.to === alice.userId && (p.envelope[1] === 2 || p.envelope[1] === 4)).length;
    const mallory = await connectMallory(); // replays what alice sent (she sent it: her keys made it)
    const first = scope.net.hub.published.length;
    await mallory.publishEnvelope(bob.userId, far);
    await scope.net.hub.idle();
    expect(bobHandshakesToAlice()).toBe(1); // the reset: a fresh session of bob's
    expect(scope.net.hub.published.slice(first).filter((p) => p.to === alice.userId)).toHaveLength(1);

    await mallory.publishEnvelope(bob.userId, far);
    await scope.net.hub.idle();
    expect(bobHandshakesToAlice()).toBe(1);
    await exchange(alice, bob, 'after the reset');
    await exchange(bob, alice, 'and back');
  });

  it('large handshakes naming a contact whose stored state is corrupt are held only up to the per-peer byte bound', async () => {
    const alice = await scope.start();
    let bob = await scope.start();
    await exchange(alice, bob, 'hello');
    const bobIdentityKey = bundleOf(bob).identityKey;
    const aliceKey = bundleOf(alice).identityKey;
    await scope.stop(bob);
    for (const [k, v] of bob.backend.data) if (k.startsWith('contact!')) v[v.length - 1] = v[v.length - 1]! ^ 1;
    bob = await scope.restart(bob);
    const mallory = await connectMallory();
    const forge = (i: number) =>
      forgeHandshake(scope.net.crypto, { recipientIdentityKey: bobIdentityKey, claimedIdentityKey: aliceKey, signedPrekeyId: i, oneTimePrekeyId: i, messageBytes: 256 * 1024 + 128 });
    const size = forge(0).length;
    const fit = Math.floor(MAX_QUARANTINED_BYTES_PER_PEER / size);
    for (let i = 0; i < fit + 8; i++) await mallory.publishEnvelope(bob.userId, forge(i));
    await scope.net.hub.idle();
    expect(scope.net.hub.queued(bob.userId)).toBe(0); // every one acked, held or not
    expect([...bob.backend.data.keys()].filter((k) => k.startsWith('quar!'))).toHaveLength(fit);
    // bob is still up and takes genuine traffic from others
    const carol = await scope.start();
    await exchange(carol, bob, 'from carol');
  }, 60_000);
});
