import { describe, expect, it } from 'vitest';
import { createIdentity, encodeIdentity } from '../../core/index.ts';
import { CURRENT_SCHEMA_VERSION } from '../store/schema.ts';
import { createTestNet, openStoppedStore, startTestDaemon, text } from '../engine/test-support.ts';
import { decodeBackupContents, encodeBackupContents, transcriptOnly, wholePeerRecord, type BackupContents, type BackupRecord } from './backup-contents.ts';

describe('backup contents', () => {
  it('are refused when they hold session state, a kind that is never backed up, no identity, or a newer schema', async () => {
    const net = await createTestNet();
    const alice = await startTestDaemon(net);
    const bob = await startTestDaemon(net);
    await alice.daemon.backend.send({ to: bob.userId, body: text('x') });
    await bob.log.until((l) => l.texts().length === 1, 'x');
    await net.hub.idle();
    bob.unsubscribe();
    await bob.daemon.close();
    alice.unsubscribe();
    await alice.daemon.close();
    const store = await openStoppedStore(net, bob);
    const identity = (await store.get('identity', 'self'))!;
    // the live record, whole (as a backup reads it from the split head and parts)
    const livePeer = await wholePeerRecord(store, (await store.get('peer', alice.userId))!);
    await store.close();
    const base: BackupContents = {
      userId: bob.userId,
      createdAt: 1,
      schemaVersion: CURRENT_SCHEMA_VERSION,
      records: [{ kind: 'identity', key: 'self', value: identity }],
    };
    const withRecords = (...records: BackupRecord[]): Uint8Array => encodeBackupContents({ ...base, records: [...base.records, ...records] });

    expect(decodeBackupContents(net.crypto, withRecords({ kind: 'peer', key: alice.userId, value: transcriptOnly(livePeer) })).records).toHaveLength(2);
    expect(() => decodeBackupContents(net.crypto, withRecords({ kind: 'peer', key: alice.userId, value: livePeer }))).toThrow(expect.objectContaining({ code: 'Corrupt', message: expect.stringMatching(/session state/) }));
    expect(() => decodeBackupContents(net.crypto, withRecords({ kind: 'routingTag', key: 'ab', value: text('x') }))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
    expect(() => decodeBackupContents(net.crypto, withRecords({ kind: 'nonsense' as 'meta', key: 'ab', value: text('x') }))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
    expect(() => decodeBackupContents(net.crypto, encodeBackupContents({ ...base, records: [] }))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
    const stranger = encodeIdentity(createIdentity(net.crypto));
    expect(() => decodeBackupContents(net.crypto, encodeBackupContents({ ...base, records: [{ kind: 'identity', key: 'self', value: stranger }] }))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
    expect(() => decodeBackupContents(net.crypto, encodeBackupContents({ ...base, schemaVersion: CURRENT_SCHEMA_VERSION + 1 }))).toThrow(expect.objectContaining({ code: 'UnsupportedVersion' }));
    const encoded = withRecords();
    expect(() => decodeBackupContents(net.crypto, encoded.subarray(0, encoded.length - 1))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
  });
});
