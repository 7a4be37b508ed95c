/**
 * The engine's store migrations (schema.ts runs them in order, each committed in one batch with its
 * version bump, so a crash leaves the old schema or the new one).
 *
 * v1 → v2: every peer record, stored whole, is split into its head and parts (peer-layout.ts) under
 * a fresh random parts id. A record that does not open or decode is left as it is: it stays
 * CorruptRecord for that peer (quarantined on use), as before the upgrade.
 */
import type { Crypto } from '../../core/crypto.ts';
import { decodePeerRecord, type PeerRecord } from '../../core/index.ts';
import type { Migration } from '../store/schema.ts';
import type { BatchOp } from '../store/store.ts';
import { newLayout, writePeerRecord, type PartSink } from './peer-layout.ts';

const PARTS_ID_BYTES = 16;

export function splitPeerRecordsMigration(crypto: Crypto): Migration {
  return {
    from: 1,
    async migrate(store) {
      const ops: BatchOp[] = [];
      const sink: PartSink = {
        put: (kind, key, value) => ops.push({ type: 'put', kind, key, value }),
        del: (kind, key) => ops.push({ type: 'del', kind, key }),
      };
      for await (const r of store.iterate('peer')) {
        if (!r.ok) continue;
        let record: PeerRecord;
        try {
          record = decodePeerRecord(r.value);
        } catch {
          continue;
        }
        if (record.peerUserId !== r.key) continue;
        writePeerRecord(sink, record.peerUserId, newLayout(crypto.randomBytes(PARTS_ID_BYTES)), record);
      }
      return ops;
    },
  };
}

/** Every migration the engine knows, for openDataDirStore. */
export function storeMigrations(crypto: Crypto): Migration[] {
  return [splitPeerRecordsMigration(crypto)];
}
