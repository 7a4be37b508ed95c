/**
 * Migration: bob is stopped, backed up, restored into a new store (a new host: no session state)
 * and started from it, while alice keeps sending. Every message arrives once, bob's replies reach
 * alice, alice sees no identity alert and no broken transcript, and nobody does anything by hand.
 */
import { describe, expect, it } from 'vitest';
import { engineTestScope } from '../engine/test-scope.ts';
import { decodePeerRecord } from '../../core/index.ts';
import { utf8 } from '../../core/bytes.ts';
import type { RelayTransport } from '../relay/transport.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { openStoppedStore, text, type TestDaemon, type TestDaemonOptions } from '../engine/test-support.ts';
import { DEFAULT_OUTBOX_POLICY } from '../engine/outbox.ts';
import { REESTABLISH_PREFIX } from '../engine/restored-sessions.ts';
import { backupFile, readBackupFile, restoreToMemory } from './backup-test-support.ts';
import { wholePeerRecord } from './backup-contents.ts';

const scope = engineTestScope();

const passphrase = utf8.encode('correct horse battery staple');

/** Stops the daemon and backs up its store, as `ratchetd backup` does. */
async function stopAndBackUp(d: TestDaemon): Promise<Uint8Array> {
  await scope.stop(d);
  const old = await openStoppedStore(scope.net, d);
  try {
    return await backupFile(scope.net.crypto, old, passphrase);
  } finally {
    await old.close();
  }
}

/** alice and bob, with one message (m1) from alice delivered to bob and the relay idle. */
async function aliceAndBob(aliceOptions: TestDaemonOptions = {}): Promise<[TestDaemon, TestDaemon]> {
  const alice = await scope.start(aliceOptions);
  const bob = await scope.start();
  await alice.daemon.backend.send({ to: bob.userId, body: text('m1') });
  await bob.log.until((l) => l.texts().length === 1, 'm1');
  await scope.net.hub.idle();
  return [alice, bob];
}

/** Starts a daemon restored from a backup onto a new store under a new key (a new host). */
async function startRestored(file: Uint8Array, o: TestDaemonOptions = {}): Promise<TestDaemon> {
  const storeKey = scope.net.crypto.randomBytes(32);
  return scope.start({ ...o, backend: await restoreToMemory(scope.net.crypto, file, passphrase, storeKey), storeKey });
}
/** Resolves when check() holds (looked at every 5 ms); fails after a deadline. */
async function until(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const delivered = (d: TestDaemon, messageId: string): boolean =>
  d.log.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered');

describe('migrating a daemon through a backup', () => {
  it('bob restored on a new host: what alice sent before, during and after arrives once; his replies reach her; no alert', async () => {
    const alice = await scope.start();
    const bob = await scope.start();
    const sent: string[] = [];
    const say = async (body: string): Promise<string> => {
      const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text(body) });
      sent.push(messageId);
      return messageId;
    };
    for (const t of ['a1', 'a2', 'a3']) await say(t);
    await bob.log.until((l) => l.texts(alice.userId).length === 3, 'a1..a3 at bob');
    await bob.daemon.backend.send({ to: alice.userId, body: text('b1') });
    await alice.log.until((l) => l.texts(bob.userId).includes('b1'), 'b1 at alice');
    await alice.log.until((l) => sent.every((id) => delivered(alice, id)), 'a1..a3 delivered');
    // one more while bob is still up, so that the ratchet moved on after b1
    await say('a4');
    await bob.log.until((l) => l.texts(alice.userId).includes('a4'), 'a4 at bob');
    await scope.net.hub.idle();

    await scope.stop(bob);
    // alice goes on while bob is down: these wait at the relay, encrypted to bob's old session
    await say('a5 while bob is down');
    await say('a6 while bob is down');
    expect(scope.net.hub.queued(bob.userId)).toBe(2);

    const old = await openStoppedStore(scope.net, bob);
    const file = await backupFile(scope.net.crypto, old, passphrase);
    await old.close();
    const newKey = scope.net.crypto.randomBytes(32);
    const restored = await restoreToMemory(scope.net.crypto, file, passphrase, newKey);
    const bob2 = await scope.start({ backend: restored, storeKey: newKey });
    expect(bob2.userId).toBe(bob.userId);

    await say('a7 after the restore');
    await bob2.log.until((l) => l.texts(alice.userId).length === 7, 'a1..a7 at restored bob');
    await alice.log.until((l) => sent.every((id) => delivered(alice, id)), 'everything delivered to alice');
    await bob2.daemon.backend.send({ to: alice.userId, body: text('b2 from the new host') });
    await alice.log.until((l) => l.texts(bob.userId).includes('b2 from the new host'), 'b2 at alice');
    await say('a8');
    await bob2.log.until((l) => l.texts(alice.userId).includes('a8'), 'a8 at bob');
    await scope.net.hub.idle();

    // the restored inbox replays the unacked a1..a4 once, then a5..a8 once each
    expect(bob2.log.texts(alice.userId)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5 while bob is down', 'a6 while bob is down', 'a7 after the restore', 'a8']);
    expect(bob2.log.messages(alice.userId).map((m) => m.messageId)).toEqual(sent);
    expect(alice.log.texts(bob.userId)).toEqual(['b1', 'b2 from the new host']);
    expect(alice.log.events.filter((e) => e.kind === 'identityChanged')).toEqual([]);
    const aliceDrops = alice.daemon.metrics()!.envelopesDropped;
    expect(aliceDrops['TranscriptBroken'] ?? 0).toBe(0);
    expect(aliceDrops['Unexpected'] ?? 0).toBe(0);
    const [aliceContact] = await alice.daemon.backend.listContacts();
    expect(aliceContact).toMatchObject({ userId: bob.userId, trust: 'unverified' });
    // the marker is gone: the next start does not reset again
    await scope.stop(bob2);
    const after = await openMemoryStore(scope.net.crypto, newKey, restored.reopen());
    const markers = [];
    for await (const r of after.iterate('meta', { prefix: REESTABLISH_PREFIX })) markers.push(r);
    await after.close();
    expect(markers).toEqual([]);
  });

  it("bob's own unacknowledged message survives the move: re-sent on the fresh session, alice gets it once, bob learns it was delivered", async () => {
    let alice = await scope.start();
    const bob = await scope.start();
    await alice.daemon.backend.send({ to: bob.userId, body: text('hi bob') });
    await bob.log.until((l) => l.texts().length === 1, 'hi bob');
    await scope.net.hub.idle();
    await scope.stop(alice); // bob's next message waits for her at the relay, unacknowledged
    const { messageId } = await bob.daemon.backend.send({ to: alice.userId, body: text('sent before the move') });
    await bob.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'sent'), 'the relay took it');
    const file = await stopAndBackUp(bob);
    const bob2 = await startRestored(file);
    // bob2 has re-sent it on a fresh session: alice now has the old copy and the new one queued
    await until(() => scope.net.hub.queued(alice.userId) >= 3, 'old copy, reset and new copy queued for alice');
    alice = await scope.start({ backend: alice.backend, storeKey: alice.storeKey });
    await bob2.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), 'delivered, as bob2 learns');
    await scope.net.hub.idle();
    expect(alice.log.texts(bob.userId)).toEqual(['sent before the move']);
    expect(alice.log.messages(bob.userId)[0]!.messageId).toBe(messageId);
    expect(alice.log.events.filter((e) => e.kind === 'identityChanged')).toEqual([]);
    await bob2.daemon.backend.send({ to: alice.userId, body: text('and after') });
    await alice.log.until((l) => l.texts(bob.userId).includes('and after'), 'the next one');
    expect(alice.daemon.metrics()!.envelopesDropped['TranscriptBroken'] ?? 0).toBe(0);
  });

  it('a contact without a bundle at the first start keeps its marker and gets its fresh session at a later maintenance tick', async () => {
    const [alice, bob] = await aliceAndBob();
    const file = await stopAndBackUp(bob);
    const aliceBundle = scope.net.hub.retained.get(alice.userId)!;
    scope.net.hub.retained.delete(alice.userId);
    const bob2 = await startRestored(file, { timing: { maintenanceMs: 30 } });
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('m2') });
    // without alice's bundle bob2 cannot start a session: m2 (on the old session) is not readable yet
    await scope.net.hub.idle();
    expect(bob2.log.texts()).toEqual(['m1']);
    scope.net.hub.retained.set(alice.userId, aliceBundle);
    await bob2.log.until((l) => l.texts().includes('m2'), 'm2 once the bundle is back');
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), 'm2 delivered');
    expect(bob2.log.texts()).toEqual(['m1', 'm2']);
  });

  it('a restored daemon that starts while the relay is unreachable starts its fresh sessions when it connects', async () => {
    const [alice, bob] = await aliceAndBob();
    const file = await stopAndBackUp(bob);
    let connect: (() => void) | undefined;
    const offlineAtFirst = (t: RelayTransport): RelayTransport =>
      new Proxy(t, {
        get(target, prop) {
          if (prop === 'start') return () => (connect = () => target.start());
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const bob2 = await startRestored(file, { wrapRelay: offlineAtFirst, timing: { connectWaitMs: 20 } });
    const { messageId } = await alice.daemon.backend.send({ to: bob.userId, body: text('m2') });
    expect(bob2.daemon.health.healthy).toBe(false);
    connect!();
    // (well before any fallback: the outbox's own retries and the hourly maintenance tick)
    await bob2.log.until((l) => l.texts().includes('m2'), 'm2 once bob2 is connected', 5_000);
    await alice.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), 'm2 delivered');
    expect(bob2.log.texts()).toEqual(['m1', 'm2']);
  });

  it("alice's own repair (a fresh session while bob is down) and the restored bob's fresh session cross: one conversation, every message once", async () => {
    const quick = { reestablishIntervalMs: 50, outbox: { ...DEFAULT_OUTBOX_POLICY, retryInitialMs: 10, retryMaxMs: 20, tickMs: 5, stuckAfterPublishes: 2 } };
    const [alice, bob] = await aliceAndBob({ timing: quick });
    const file = await stopAndBackUp(bob);
    const fromHere = scope.net.hub.published.length;
    const ids: string[] = [];
    for (const t of ['m2', 'm3']) ids.push((await alice.daemon.backend.send({ to: bob.userId, body: text(t) })).messageId);
    // alice gives up on the old session by herself: her messages go out again as a handshake
    await until(() => scope.net.hub.published.slice(fromHere).some((p) => p.to === bob.userId && p.envelope[1] === 4), "alice's own fresh session (a PQXDH handshake)");
    const bob2 = await startRestored(file);
    await alice.log.until((l) => ids.every((id) => delivered(alice, id)), 'm2, m3 delivered');
    await bob2.daemon.backend.send({ to: alice.userId, body: text('r1') });
    await alice.log.until((l) => l.texts(bob.userId).includes('r1'), 'r1');
    ids.push((await alice.daemon.backend.send({ to: bob.userId, body: text('m4') })).messageId);
    await alice.log.until((l) => ids.every((id) => delivered(alice, id)), 'm4 delivered');
    await scope.net.hub.idle();
    expect(bob2.log.texts(alice.userId)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(alice.log.texts(bob.userId)).toEqual(['r1']);
    expect(alice.daemon.metrics()!.envelopesDropped['TranscriptBroken'] ?? 0).toBe(0);
    expect(alice.log.events.filter((e) => e.kind === 'identityChanged')).toEqual([]);
  });

  it('the backup holds no session state: peer records carry only their transcript, and no routing tag is in it', async () => {
    const alice = await scope.start();
    const bob = await scope.start();
    await alice.daemon.backend.send({ to: bob.userId, body: text('hello') });
    await bob.log.until((l) => l.texts().length === 1, 'hello');
    await bob.daemon.backend.send({ to: alice.userId, body: text('hi') });
    await alice.log.until((l) => l.texts().length === 1, 'hi');
    await scope.net.hub.idle();
    await scope.stop(bob);
    const store = await openStoppedStore(scope.net, bob);
    // the live store does have sessions and routing tags
    const live = decodePeerRecord(await wholePeerRecord(store, (await store.get('peer', alice.userId))!));
    expect(live.active).not.toBeNull();
    const contents = await readBackupFile(scope.net.crypto, await backupFile(scope.net.crypto, store, passphrase), passphrase);
    await store.close();
    const kinds = new Set(contents.records.map((r) => r.kind));
    expect(kinds.has('routingTag')).toBe(false);
    expect(kinds.has('inboxById')).toBe(false);
    for (const k of ['identity', 'prekeys', 'contact', 'peer', 'inbox'] as const) expect(kinds.has(k)).toBe(true);
    const peers = contents.records.filter((r) => r.kind === 'peer').map((r) => decodePeerRecord(r.value));
    expect(peers).toHaveLength(1);
    expect(peers[0]!.active).toBeNull();
    expect(peers[0]!.archived).toEqual([]);
    expect(peers[0]!.transcript.sendSeq).toBe(live.transcript.sendSeq);
    expect(peers[0]!.transcript.recvSeq).toBe(live.transcript.recvSeq);
    // nothing of the ratchet (its root key, chain keys, header keys) appears anywhere in the contents
    const all = Buffer.concat(contents.records.map((r) => Buffer.from(r.value)));
    const r = live.active!.ratchet;
    const secrets = [r.rk, r.cks, r.ckr, r.hks, r.hkr, r.nhks, r.nhkr, r.dhs.privateKey].filter((k): k is Uint8Array => k !== null);
    expect(secrets.length).toBeGreaterThanOrEqual(6);
    for (const secret of secrets) expect(all.indexOf(Buffer.from(secret))).toBe(-1);
  });
});
