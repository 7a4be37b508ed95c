/**
 * Upgrade from store schema v1 (whole peer records) to v2 (split: peer-layout.ts) on a data dir the
 * v1 code wrote (test/fixtures/daemon-datadir-v1.ts): the migrated record is the same record, byte
 * for byte in the core's encoding, now in parts; and a daemon started on the old data dir migrates
 * it and goes on with the conversation: the two messages that were lost on the way arrive, and
 * release the held-back ones, in order (a skipped key of an archived session and one of the active
 * session, and three held-back messages, all survived the migration).
 */
import { cp, mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { encodePeerRecord } from '../../core/index.ts';
import type { UserId } from '../../core/user-id.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { FIXTURE_DIR, readFixtureManifest, type DaemonFixtureManifest } from '../../test/fixtures/daemon-datadir-v1.ts';
import { createFakeRelayHub } from '../relay/fake-relay.ts';
import { openDataDirStore } from '../store/open-store.ts';
import type { RecordKind } from '../store/kinds.ts';
import { createDaemon } from './daemon.ts';
import { PeerStore } from './peers.ts';
import { newLayout, writePeerRecord } from './peer-layout.ts';
import { storeMigrations } from './store-migrations.ts';
import { EventLog, silentLogger } from './test-support.ts';

/** SHA-256 of the fixture record's v2 records (see the golden vector below). */
const V2_LAYOUT_SHA256 = 'ee5770e4e99a44b4055796e8661876b55ba0a1240dfffc30c5f6566828a31791';

let crypto: Crypto;
let manifest: DaemonFixtureManifest;
const dirs: string[] = [];
beforeAll(async () => {
  crypto = await createSodiumCrypto();
  manifest = await readFixtureManifest();
});
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function copyOfFixture(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ratchetd-upgrade-'));
  dirs.push(dir);
  await cp(FIXTURE_DIR, dir, { recursive: true });
  // git keeps only 644/755: give the copied key file the mode a daemon created it with.
  await chmod(path.join(dir, 'store.key'), 0o600);
  return dir;
}

describe('store schema v1 → v2 (split peer records)', () => {
  it('v1 is refused without the migration, and migrated to the same record in parts with it', async () => {
    const dir = await copyOfFixture();
    await expect(openDataDirStore({ dataDir: dir, crypto })).rejects.toThrow(/no migration from store schema v1/);

    const store = await openDataDirStore({ dataDir: dir, crypto, migrations: storeMigrations(crypto) });
    try {
      expect(store.schemaVersion).toBe(2);
      const count = async (kind: RecordKind): Promise<number> => {
        let n = 0;
        for await (const r of store.iterate(kind)) if (r.ok) n += 1;
        return n;
      };
      expect(await count('peer')).toBe(1);
      expect(await count('peerSession')).toBe(manifest.archivedSessions);
      expect(await count('peerHeld')).toBe(manifest.heldBack);
      expect(await count('peerSkipped')).toBeGreaterThanOrEqual(2); // one block per session holding keys
      const { record } = await new PeerStore(crypto, store, silentLogger).load(manifest.alice as UserId);
      expect(record).not.toBeNull();
      expect(toHex(crypto.sha256(encodePeerRecord(record!)))).toBe(manifest.recordSha256);

      // Golden vector of the v2 layout: the fixture's record under a fixed parts id, every record
      // it becomes (kind, key, value), pinned by their SHA-256 (a change of the format changes it).
      const ops: string[] = [];
      writePeerRecord(
        { put: (kind, key, value) => ops.push(`${kind} ${key} ${toHex(value)}`), del: () => undefined },
        manifest.alice as UserId,
        newLayout(new Uint8Array(16).fill(7)),
        record!,
      );
      const P = '07'.repeat(16);
      expect(ops.map((o) => o.split(' ').slice(0, 2).join(' '))).toEqual([
        `peerSession ${P}!00000002`, // S2 (sessions are numbered active first: S3 is 1)
        `peerSession ${P}!00000003`, // S1
        `peerSkipped ${P}!00000001!00000001!00000000`, // m4's key on S3, chain 1, block N>>6 = 0
        `peerSkipped ${P}!00000003!00000002!00000000`, // m1's key on S1
        `peerHeld ${P}!0000000000000003`, // m2
        `peerHeld ${P}!0000000000000004`, // m3
        `peerHeld ${P}!0000000000000006`, // m5
        `peer ${manifest.alice}`, // the head
      ]);
      expect(toHex(crypto.sha256(new TextEncoder().encode(ops.sort().join('\n'))))).toBe(V2_LAYOUT_SHA256);
    } finally {
      await store.close();
    }
  });

  it('a daemon started on the v1 data dir migrates it and goes on: the lost messages arrive and release the held-back ones, in order', async () => {
    const dir = await copyOfFixture();
    const hub = createFakeRelayHub();
    const daemon = createDaemon({
      dataDir: dir,
      brokerUrl: 'fake://relay',
      logger: silentLogger,
      crypto,
      clock: () => manifest.generatedAt + 60_000,
      relay: (id) => hub.transport(id),
      timing: { receiptDelayMs: 1, connectWaitMs: 1000, transcriptWaitMs: 3600_000 },
    });
    const { userId } = await daemon.start();
    try {
      expect(userId).toBe(manifest.bob);
      const log = new EventLog();
      await daemon.backend.subscribe(0, log.push);
      const alice = hub.transport(manifest.alice as UserId);
      alice.onEnvelope(async () => undefined);
      alice.start();
      await alice.whenConnected();

      await alice.publishEnvelope(userId, fromHex(manifest.lost.m1)); // skipped key of archived S1
      await log.until((l) => l.texts().length === 3, 'm1 and the held-back m2, m3');
      expect(log.texts()).toEqual(['m1', 'm2', 'm3']);
      await alice.publishEnvelope(userId, fromHex(manifest.lost.m4)); // skipped key of the active session
      await log.until((l) => l.texts().length === 5, 'm4 and the held-back m5');
      expect(log.texts()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
      await alice.close();
    } finally {
      await daemon.close();
    }
  });
});
