/**
 * Issue 10 item 4, power loss: nothing is acknowledged — the API's Send result, the relay's PUBACK,
 * the encrypted delivery receipt — before the batch behind it is on stable storage. The daemons run
 * on a disk that loses every batch written since the last synced one when the power goes
 * (store/power-cut-backend.ts); after the cut a daemon restarts on what the disk kept.
 *   - a receiver that lost power right after its sender saw every message delivered (receipts
 *     sent, every envelope PUBACKed, so neither the relay nor the sender's outbox still has them)
 *     replays all of them from its inbox after the restart, under the same identity;
 *   - a sender that lost power right after its Send calls returned (offline, so nothing was
 *     published yet) still delivers every message after the restart;
 *   - group commit: one fsync covers many messages (fewer syncs than messages in a burst).
 */
import { describe, expect, it } from 'vitest';
import { createPowerCutDisk, type PowerCutDisk } from '../store/power-cut-backend.ts';
import { EventLog, startOnPowerCutDisk, text, type DiskDaemon, type TestDaemon } from './test-support.ts';
import { engineTestScope } from './test-scope.ts';

const scope = engineTestScope({ ignoreCloseErrors: true });

/** A daemon whose store lives on `disk` (reopened: a process start). */
async function startOnDisk(disk: PowerCutDisk, storeKey: Uint8Array): Promise<DiskDaemon> {
  return scope.track(await startOnPowerCutDisk(scope.net, disk, storeKey));
}

/** The power goes: the disk keeps only what was synced, and the process dies with the machine. */
async function powerCut(disk: PowerCutDisk, d: DiskDaemon): Promise<void> {
  disk.powerCut();
  await scope.stop(d, { ignoreErrors: true }); // its store is gone: nothing more reaches the disk
}

const startPlain = (): Promise<TestDaemon> => scope.start();

const deliveredIds = (log: EventLog): Set<string> =>
  new Set(log.events.flatMap((e) => (e.kind === 'delivery' && e.state === 'delivered' ? [e.messageId] : [])));

describe('power loss', () => {
  it('a receiver that loses power after its receipts went out replays every message from its inbox', async () => {
    const disk = createPowerCutDisk();
    const storeKey = scope.net.crypto.randomBytes(32);
    const alice = await startPlain();
    const bob = await startOnDisk(disk, storeKey);
    const bodies = Array.from({ length: 50 }, (_, i) => `message ${i}`);
    const syncsBefore = disk.syncs;
    const ids = await Promise.all(bodies.map(async (b) => (await alice.daemon.backend.send({ to: bob.userId, body: text(b) })).messageId));
    // every receipt arrived: alice dropped each message from her outbox, and the relay holds none for bob
    await alice.log.until((l) => ids.every((id) => deliveredIds(l).has(id)), 'all delivered');
    await scope.net.hub.idle(); // (a PUBACK may follow the receipt by a moment)
    expect(scope.net.hub.queued(bob.userId)).toBe(0);
    expect((await alice.daemon.backend.getStatus()).outboxDepth).toBe(0);
    const syncs = disk.syncs - syncsBefore;
    await powerCut(disk, bob);

    const after = await startOnDisk(disk, storeKey);
    expect(after.userId).toBe(bob.userId);
    await after.log.until((l) => bodies.every((b) => l.texts(alice.userId).includes(b)), 'every message replayed after the power cut');
    // group commit: the 50 messages (and their receipts) took fewer fsyncs than messages
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThan(bodies.length);
  });

  it('a sender that loses power after Send returned delivers every message after the restart', async () => {
    const disk = createPowerCutDisk();
    const storeKey = scope.net.crypto.randomBytes(32);
    const bob = await startPlain();
    const alice = await startOnDisk(disk, storeKey);
    await alice.daemon.backend.send({ to: bob.userId, body: text('hello') });
    await bob.log.until((l) => l.texts(alice.userId).includes('hello'), 'first message');
    scope.net.hub.disconnect(alice.userId); // nothing sent below reaches the relay before the cut
    const bodies = Array.from({ length: 30 }, (_, i) => `queued ${i}`);
    await Promise.all(bodies.map((b) => alice.daemon.backend.send({ to: bob.userId, body: text(b) })));
    await powerCut(disk, alice);

    scope.net.hub.reconnect(alice.userId);
    const after = await startOnDisk(disk, storeKey);
    expect(after.userId).toBe(alice.userId);
    await bob.log.until((l) => bodies.every((b) => l.texts(alice.userId).includes(b)), 'every message delivered after the power cut');
    expect(bob.log.texts(alice.userId).filter((t) => t.startsWith('queued ')).sort()).toEqual([...bodies].sort()); // each once
  });
});
