/**
 * What a backup holds, read from a stopped daemon's store and written into a new one.
 *
 * Every record kind is classified (BACKUP_POLICY; a new kind does not compile until it is):
 *  - copied as is: identity, prekeys (private halves), the handshake replay cache that goes with
 *    them, contacts and trust, inbox, outbox, idempotency records, quarantine, dead letters, counters;
 *  - peer records reduced to their transcript: the peer's identity key, highest session epoch and
 *    bundle version, and the transcript (sequence numbers, hashes, held-back messages), with every
 *    session removed — no ratchet state, chain key, header key or skipped message key leaves the
 *    store. Keeping the transcript is what lets the restored daemon carry on the conversation on a
 *    fresh session without the peer seeing a fork (restored-sessions.ts);
 *  - left out: routing tags (derived from sessions), the obsolete inboxById index, the schema record.
 * Groups: not carried yet (see the policy below).
 * Files: neither the files on disk nor the records of transfers travel (see the policy below).
 *
 * The records are in the encodings of the schema version the contents carry: a restore writes that
 * version with them, so a newer ratchetd migrates them on its first start like any older store, and
 * an older ratchetd refuses contents newer than it. Peer records are written whole, as schema v1
 * stored them (a v2 store's head and parts are assembled first, held-back messages included), and
 * v1 differs from v2 in nothing else: so the contents say v1, and the restored daemon's first start
 * splits them again (daemon/engine/store-migrations.ts).
 *
 * Encoding: version u8 (= 1) ‖ userId (u16 length ‖ ASCII) ‖ createdAt u64 ‖ schema version u32 ‖ count u32
 *   ‖ × (kind u16-string ‖ key u16-string ‖ value u32-length bytes)
 */
import { Reader, Writer } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import { DecodeError } from '../../core/errors.ts';
import { decodeIdentity, decodePeerRecord, encodePeerRecord } from '../../core/index.ts';
import { peerRecord } from '../../core/session.ts';
import { parseUserId, type UserId } from '../../core/user-id.ts';
import { reestablishMarkerOps } from '../engine/restored-sessions.ts';
import { isRecordKind, RECORD_KINDS, type RecordKind } from '../store/kinds.ts';
import { CURRENT_SCHEMA_VERSION, schemaOp } from '../store/schema.ts';
import { decodePeerHead, type StoredParts } from '../engine/peer-layout.ts';
import type { BatchOp, Store } from '../store/store.ts';
import { BackupError } from './errors.ts';

export type BackupPolicy = 'copy' | 'transcript' | 'skip';

export const BACKUP_POLICY: Readonly<Record<RecordKind, BackupPolicy>> = {
  meta: 'copy',
  identity: 'copy',
  prekeys: 'copy',
  peer: 'transcript',
  // The parts of a split peer record (schema v2): sessions and skipped keys stay behind; held-back
  // messages are folded into the transcript of the peer record (see collectBackup).
  peerSession: 'skip',
  peerSkipped: 'skip',
  peerHeld: 'skip',
  contact: 'copy',
  routingTag: 'skip',
  // Post-quantum pins travel: a restore that dropped them would reopen the downgrade.
  pqPin: 'copy',
  replay: 'copy',
  inbox: 'copy',
  inboxById: 'skip',
  outbox: 'copy',
  idempotency: 'copy',
  idemOrder: 'copy',
  replyIdem: 'copy',
  quarantine: 'copy',
  deadLetter: 'copy',
  // Groups are not carried yet. Without its sender key a restored member would start its sending
  // chain at seq 1 again, and the members' exactly-once logs would drop its messages as copies; with
  // it, a stolen backup would read the member's later group messages. Until a backup can carry the
  // position without the key, a restored daemon is in no group (the owner removes and re-adds it).
  groupView: 'skip',
  groupLeft: 'skip',
  groupOwnKey: 'skip',
  groupChains: 'skip',
  groupSeqLog: 'skip',
  groupDelivery: 'skip',
  groupOutbox: 'skip',
  groupPairwise: 'skip',
  groupHeld: 'skip',
  // Files: a backup holds the store, not the files under DATA/files/out and DATA/attachments, so the
  // records of transfers (whose keys and progress only make sense with those files) stay behind. A
  // restored daemon answers AttachmentNotFound for an attachment received before the backup, and a
  // transfer in flight is not resumed (the recipient gives it up after its timeout).
  fileOut: 'skip',
  fileIn: 'skip',
};

/** meta keys that a restore writes itself. */
const META_NOT_COPIED = (key: string): boolean => key === 'schema' || key.startsWith('reestablish:');

const CONTENTS_VERSION = 1;
const MAX_KEY = 1024;
const MAX_VALUE = 1 << 26;

export interface BackupRecord {
  readonly kind: RecordKind;
  readonly key: string;
  readonly value: Uint8Array;
}

export interface BackupContents {
  readonly userId: UserId;
  readonly createdAt: number;
  /** The source store's schema version: the records are in its encodings. */
  readonly schemaVersion: number;
  readonly records: readonly BackupRecord[];
}

/** A peer record without its sessions: identity key, epoch, bundle version and transcript only. */
export function transcriptOnly(value: Uint8Array): Uint8Array {
  const r = decodePeerRecord(value);
  return encodePeerRecord(peerRecord({ ...r, active: null, archived: [] }));
}

/** Schema version of whole peer records; the only difference between v1 and v2 is their split. */
const WHOLE_PEER_RECORDS_SCHEMA = 1;

async function readParts(store: Store, kind: RecordKind, partsId: string): Promise<Array<readonly [string, Uint8Array]>> {
  const out: Array<readonly [string, Uint8Array]> = [];
  for await (const r of store.iterate(kind, { prefix: partsId + '!' })) {
    if (!r.ok) throw new BackupError('CorruptStore', `the store holds a ${kind} record that does not decrypt: no backup made`, { cause: r.error });
    out.push([r.key, r.value]);
  }
  return out;
}

/** A peer record as schema v1 stored it (whole), from a v2 head and its parts. */
export async function wholePeerRecord(store: Store, headBytes: Uint8Array): Promise<Uint8Array> {
  const head = decodePeerHead(headBytes);
  const parts: StoredParts = {
    sessions: head.hasArchived ? await readParts(store, 'peerSession', head.partsId) : [],
    skipped: head.hasSkipped ? await readParts(store, 'peerSkipped', head.partsId) : [],
    held: head.hasHeld ? await readParts(store, 'peerHeld', head.partsId) : [],
  };
  return encodePeerRecord(head.assemble(parts).record);
}

/** Reads every record to back up; a record that does not decrypt fails the whole backup (CorruptStore). */
export async function collectBackup(crypto: Crypto, store: Store, now: number): Promise<BackupContents> {
  if (store.schemaVersion > CURRENT_SCHEMA_VERSION || store.schemaVersion < 2) {
    throw new BackupError('UnsupportedVersion', `the store is at schema v${store.schemaVersion}; this ratchetd backs up v2`);
  }
  const records: BackupRecord[] = [];
  for (const kind of Object.keys(RECORD_KINDS) as RecordKind[]) {
    const policy = BACKUP_POLICY[kind];
    if (policy === 'skip') continue;
    for await (const rec of store.iterate(kind)) {
      if (!rec.ok) throw new BackupError('CorruptStore', `the store holds a ${kind} record that does not decrypt: no backup made`, { cause: rec.error });
      if (kind === 'meta' && META_NOT_COPIED(rec.key)) continue;
      let value = rec.value;
      if (policy === 'transcript') {
        try {
          value = transcriptOnly(await wholePeerRecord(store, rec.value));
        } catch (cause) {
          if (cause instanceof BackupError) throw cause;
          throw new BackupError('CorruptStore', 'the store holds a peer record that does not decode: no backup made', { cause });
        }
      }
      records.push({ kind, key: rec.key, value });
    }
  }
  const identity = records.find((r) => r.kind === 'identity');
  if (identity === undefined) throw new BackupError('NoStore', 'the store holds no identity: nothing to back up');
  return { userId: decodeIdentity(crypto, identity.value).userId, createdAt: now, schemaVersion: WHOLE_PEER_RECORDS_SCHEMA, records };
}

export function encodeBackupContents(c: BackupContents): Uint8Array {
  const w = new Writer().u8(CONTENTS_VERSION).string16(c.userId).u64(c.createdAt).u32(c.schemaVersion).u32(c.records.length);
  for (const r of c.records) w.string16(r.kind).string16(r.key).bytes32(r.value);
  return w.finish();
}

/** Decodes and checks decrypted contents: known kinds only, sessionless peer records, one identity of `userId`. */
export function decodeBackupContents(crypto: Crypto, bytes: Uint8Array): BackupContents {
  try {
    const r = new Reader(bytes, 'backup contents');
    const version = r.u8();
    if (version !== CONTENTS_VERSION) throw new BackupError('UnsupportedVersion', `backup contents v${version} are not supported by this ratchetd`);
    const userId = parseUserId(r.string16(64));
    const createdAt = r.u64();
    const schemaVersion = r.u32();
    if (schemaVersion > CURRENT_SCHEMA_VERSION || schemaVersion < 1) {
      throw new BackupError('UnsupportedVersion', `the backup holds a store of schema v${schemaVersion}, newer than this ratchetd (v${CURRENT_SCHEMA_VERSION}): upgrade ratchetd`);
    }
    const count = r.u32();
    const records: BackupRecord[] = [];
    for (let i = 0; i < count; i++) {
      const kind = r.string16(64);
      const key = r.string16(MAX_KEY);
      const value = r.bytes32(MAX_VALUE);
      if (!isRecordKind(kind) || BACKUP_POLICY[kind] === 'skip') throw new BackupError('Corrupt', `the backup holds a record kind it must not (${kind})`);
      if (kind === 'peer') {
        const peer = decodePeerRecord(value);
        if (peer.active !== null || peer.archived.length > 0) throw new BackupError('Corrupt', 'the backup holds session state');
      }
      records.push({ kind, key, value });
    }
    r.end();
    const identities = records.filter((x) => x.kind === 'identity');
    if (identities.length !== 1 || decodeIdentity(crypto, identities[0]!.value).userId !== userId) {
      throw new BackupError('Corrupt', 'the backup does not hold exactly one identity of its user');
    }
    return { userId, createdAt, schemaVersion, records };
  } catch (cause) {
    if (cause instanceof BackupError) throw cause;
    if (cause instanceof DecodeError || cause instanceof RangeError) throw new BackupError('Corrupt', 'the backup contents do not decode', { cause });
    throw cause;
  }
}

/**
 * The ops that restore `c` into an empty store: its records, its schema version (the next open
 * migrates an older one) and a re-establish marker per peer.
 */
export function restoreOps(c: BackupContents): BatchOp[] {
  const ops: BatchOp[] = c.records.map((r) => ({ type: 'put', kind: r.kind, key: r.key, value: r.value }));
  const peers = c.records.filter((r) => r.kind === 'peer').map((r) => parseUserId(r.key));
  return [...ops, schemaOp(c.schemaVersion), ...reestablishMarkerOps(peers)];
}
