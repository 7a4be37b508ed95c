/**
 * No downgrade, through the engine: daemons set up PQXDH sessions (kind 0x04) and pin each other;
 * a later bundle of a pinned peer without PQ prekeys is refused (DowngradedBundle) and nothing is
 * sent; an X3DH handshake to a bundle generation that offered PQ prekeys is refused by the
 * responder (DowngradedHandshake) and delivers nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildBundle, decodeIdentity, decodePrekeyState, isRatchetError } from '../../core/index.ts';
import { ENVELOPE_KIND_HANDSHAKE, ENVELOPE_KIND_PQ_HANDSHAKE } from '../../core/envelope.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { decodePqPin } from './pq-pins.ts';
import { createTestNet, openStoppedStore, restartTestDaemon, startTestDaemon, text, type TestDaemon, type TestNet } from './test-support.ts';

const running: TestDaemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.daemon.close().catch(() => undefined);
});

/** Waits (turn by turn of the event loop) until cond holds; fails naming `what` after 15 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A relay transport whose bundle fetches return `override.bundle` when set. */
function servingBundle(override: { bundle?: Uint8Array }) {
  return (t: RelayTransport): RelayTransport =>
    new Proxy(t, {
      get(target, prop) {
        if (prop === 'fetchBundle') return async (id: string) => override.bundle ?? target.fetchBundle(id as never);
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
}

/** Bob's bundle rebuilt from his stopped store without its PQ prekeys (as a daemon of the previous version builds it). */
async function strippedBundleOf(net: TestNet, bob: TestDaemon): Promise<Uint8Array> {
  const store = await openStoppedStore(net, bob);
  const identity = decodeIdentity(net.crypto, (await store.get('identity', 'self'))!);
  const state = decodePrekeyState((await store.get('prekeys', 'self'))!);
  await store.close();
  return buildBundle(net.crypto, identity, { ...state, pqLastResortPrekeys: [], pqOneTimePrekeys: [] }, Date.now() + net.clock.offsetMs).bundle;
}

describe('no downgrade (engine)', () => {
  it('first contact is PQXDH and pins both sides; a pinned peer\'s bundle without PQ prekeys is refused and nothing is sent', async () => {
    const net = await createTestNet();
    const override: { bundle?: Uint8Array } = {};
    let alice = await startTestDaemon(net, { wrapRelay: servingBundle(override) });
    let bob = await startTestDaemon(net);
    running.push(alice, bob);
    await alice.daemon.backend.send({ to: bob.userId, body: text('pq hello') });
    await bob.log.until((l) => l.texts(alice.userId).includes('pq hello'), 'bob receives');
    const first = net.hub.published.find((p) => p.to === bob.userId)!; // delivered, so published
    expect(first.envelope[1]).toBe(ENVELOPE_KIND_PQ_HANDSHAKE);

    // Both pinned: alice from bob's bundle, bob from alice's handshake.
    running.splice(0);
    await alice.daemon.close();
    await bob.daemon.close();
    const aliceStore = await openStoppedStore(net, alice);
    expect(decodePqPin((await aliceStore.get('pqPin', bob.userId))!)).toBe('bundle');
    await aliceStore.del('peer', bob.userId); // alice's sessions with bob are gone: the next Send fetches a bundle
    await aliceStore.close();
    const bobStore = await openStoppedStore(net, bob);
    expect(decodePqPin((await bobStore.get('pqPin', alice.userId))!)).toBe('handshake');
    await bobStore.close();

    override.bundle = await strippedBundleOf(net, bob);
    alice = await restartTestDaemon(net, alice, { wrapRelay: servingBundle(override) });
    bob = await restartTestDaemon(net, bob);
    running.push(alice, bob);
    const before = net.hub.published.length;
    const err = await alice.daemon.backend.send({ to: bob.userId, body: text('must not leave') }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isRatchetError(err) && err.code).toBe('DowngradedBundle');
    expect(net.hub.published.slice(before).filter((p) => p.to === bob.userId)).toEqual([]);

    // The genuine (PQ) bundle is accepted again: a new PQXDH handshake leaves. (Not checked for
    // delivery: deleting alice's peer record above also reset her transcript, which bob's remembers.)
    delete override.bundle;
    await alice.daemon.backend.send({ to: bob.userId, body: text('pq again') });
    const fresh = () => net.hub.published.slice(before).filter((p) => p.to === bob.userId);
    await until(() => fresh().length > 0, 'the new handshake published');
    expect(fresh().map((p) => p.envelope[1])).toEqual([ENVELOPE_KIND_PQ_HANDSHAKE]);
  });

  it('an X3DH handshake to a bundle generation with PQ prekeys is refused by the responder and delivers nothing', async () => {
    const net = await createTestNet();
    const override: { bundle?: Uint8Array } = {};
    let bob = await startTestDaemon(net);
    running.push(bob);
    running.splice(0);
    await bob.daemon.close();
    override.bundle = await strippedBundleOf(net, bob); // a newer bundle version than any bob published, without PQ
    bob = await restartTestDaemon(net, bob);
    const carol = await startTestDaemon(net, { wrapRelay: servingBundle(override) });
    running.push(bob, carol);
    await carol.daemon.backend.send({ to: bob.userId, body: text('classic') }); // carol never saw bob: not pinned, X3DH
    const toBob = () => net.hub.published.filter((p) => p.to === bob.userId);
    await until(() => toBob().length > 0, "carol's handshake published");
    expect(toBob().map((p) => p.envelope[1])).toEqual([ENVELOPE_KIND_HANDSHAKE]);
    // bob refuses it (counted under its code) and delivers nothing
    await until(() => (bob.daemon.metrics()?.envelopesDropped['DowngradedHandshake'] ?? 0) >= 1, 'bob refuses the X3DH handshake');
    expect(bob.log.texts(carol.userId)).toEqual([]);
    // a PQXDH first contact still works
    const dave = await startTestDaemon(net);
    running.push(dave);
    await dave.daemon.backend.send({ to: bob.userId, body: text('after') });
    await bob.log.until((l) => l.texts(dave.userId).includes('after'), 'bob receives dave');
    expect(bob.log.texts(carol.userId)).toEqual([]);
  });
});
