/**
 * A restore from a backup older than the daemon's last message (the old data dir went on after the
 * backup, then was lost): the contacts saw more of its transcript than it remembers. Its fresh-session
 * reset carries where its transcript stands, the contacts rebase on it, and its new messages are not
 * taken for a fork (no TranscriptBroken dead end).
 */
import { describe, expect, it } from 'vitest';
import { engineTestScope } from '../engine/test-scope.ts';
import { utf8 } from '../../core/bytes.ts';
import { openStoppedStore, text } from '../engine/test-support.ts';
import { backupFile, restoreToMemory } from './backup-test-support.ts';

const scope = engineTestScope();

const passphrase = utf8.encode('an old backup');

describe('restoring a backup older than the last message', () => {
  it("the restored bob's new messages reach alice (she rebases on his transcript); hers reach him", async () => {
    const alice = await scope.start();
    let bob = await scope.start({ timing: { transcriptWaitMs: 50 } });
    await alice.daemon.backend.send({ to: bob.userId, body: text('a1') });
    await bob.log.until((l) => l.texts().includes('a1'), 'a1');
    await bob.daemon.backend.send({ to: alice.userId, body: text('b1') });
    await alice.log.until((l) => l.texts().includes('b1'), 'b1');
    await scope.net.hub.idle();
    // the backup is taken here ...
    await scope.stop(bob);
    const old = await openStoppedStore(scope.net, bob);
    const file = await backupFile(scope.net.crypto, old, passphrase);
    await old.close();
    // ... but the old data dir goes on: b2, b3 reach alice, then it is lost
    bob = await scope.start({ backend: bob.backend, storeKey: bob.storeKey });
    for (const t of ['b2 (lost with the old disk)', 'b3 (lost with the old disk)']) await bob.daemon.backend.send({ to: alice.userId, body: text(t) });
    await alice.log.until((l) => l.texts(bob.userId).length === 3, 'b2, b3');
    await scope.net.hub.idle();
    await scope.stop(bob);

    const newKey = scope.net.crypto.randomBytes(32);
    const bob2 = await scope.start({ backend: await restoreToMemory(scope.net.crypto, file, passphrase, newKey), storeKey: newKey, timing: { transcriptWaitMs: 50 } });
    // bob2 remembers having sent b1 only: his next message reuses seq 2, which alice holds for b2
    const { messageId } = await bob2.daemon.backend.send({ to: alice.userId, body: text('b4 from the restored bob') });
    await alice.log.until((l) => l.texts(bob.userId).includes('b4 from the restored bob'), 'b4 at alice');
    await bob2.log.until((l) => l.events.some((e) => e.kind === 'delivery' && e.messageId === messageId && e.state === 'delivered'), 'b4 delivered');
    await bob2.daemon.backend.send({ to: alice.userId, body: text('b5') });
    await alice.log.until((l) => l.texts(bob.userId).includes('b5'), 'b5 at alice');
    await alice.daemon.backend.send({ to: bob.userId, body: text('a2') });
    await bob2.log.until((l) => l.texts(alice.userId).includes('a2'), 'a2 at the restored bob');
    await scope.net.hub.idle();
    expect(alice.log.texts(bob.userId)).toEqual(['b1', 'b2 (lost with the old disk)', 'b3 (lost with the old disk)', 'b4 from the restored bob', 'b5']);
    expect(bob2.log.texts(alice.userId)).toEqual(['a1', 'a2']);
    expect(alice.daemon.metrics()!.envelopesDropped['TranscriptBroken'] ?? 0).toBe(0);
    expect(alice.daemon.metrics()!.envelopesDropped['Unexpected'] ?? 0).toBe(0);
    expect(alice.log.events.filter((e) => e.kind === 'identityChanged')).toEqual([]);
  });
});
