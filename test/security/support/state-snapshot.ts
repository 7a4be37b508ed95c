/**
 * The logical content of a daemon's store, for "bad input changed nothing" checks: every record of
 * every kind is decrypted through the store (so the at-rest encryption's random nonces do not
 * matter) and compared by meaning.
 *
 * What may legitimately change while a daemon is fed garbage, and is therefore excluded:
 *  - the SENDING chain of a session (CKs, Ns): a garbage copy of an old envelope whose header still
 *    decrypts is a Duplicate, and the daemon answers it with a delivery receipt;
 *  - a NEW session per peer, the old one demoted (retired), and the contact's last seen bundle
 *    version: an undecryptable envelope under a known routing tag triggers the rate-limited
 *    session reset (at most one per peer per minute).
 * Everything else must be identical: identity, prekeys (no one-time prekey consumed), replay cache,
 * contacts (keys, trust), inbox, outbox, quarantine, idempotency, counters, the transcript of every
 * peer, and the RECEIVING side of every session that existed before (root key, DH keys, receiving
 * chain, header keys, skipped keys, counters) — byte for byte.
 */
import { toHex } from '../../../core/bytes.ts';
import type { Crypto } from '../../../core/crypto.ts';
import { decodeContact } from '../../../daemon/engine/records.ts';
import { decodePeerRecord, decodePrekeyState, encodePrekeyState, type Session } from '../../../core/index.ts';
import { encodeRatchetState } from '../../../core/ratchet.ts';
import { RECORD_KINDS, type RecordKind } from '../../../daemon/store/kinds.ts';
import { openDataDirStore } from '../../../daemon/store/open-store.ts';

/** kind → logical key → comparable value (hex or a canonical string). */
export type StateSnapshot = Record<string, Record<string, string>>;

const hex = (b: Uint8Array | null | undefined): string => (b === null || b === undefined ? '-' : toHex(b));

/** A session without its sending chain and its rank flags. */
function receivingSide(s: Session): string {
  const r = s.ratchet;
  const withoutSending = r.with({ cks: r.cks === null ? null : new Uint8Array(32), ns: 0 });
  return [hex(s.id), s.epoch, s.role, hex(s.replayId), s.createdAt, s.lastReceivedAt, hex(s.pendingHandshake?.sealed), hex(encodeRatchetState(withoutSending))].join('|');
}

export async function snapshotStore(crypto: Crypto, dataDir: string): Promise<StateSnapshot> {
  const store = await openDataDirStore({ dataDir, crypto });
  const out: StateSnapshot = {};
  try {
    for (const kind of Object.keys(RECORD_KINDS) as RecordKind[]) {
      const records: Record<string, string> = {};
      for await (const r of store.iterate(kind)) {
        if (!r.ok) throw r.error;
        records[r.key] = canonical(kind, r.value, records, r.key);
      }
      out[kind] = records;
    }
  } finally {
    await store.close();
  }
  return out;
}

function canonical(kind: RecordKind, value: Uint8Array, records: Record<string, string>, key: string): string {
  switch (kind) {
    case 'prekeys': {
      const p = decodePrekeyState(value);
      return hex(encodePrekeyState({ ...p, bundleVersion: 0 }));
    }
    case 'contact': {
      const c = decodeContact(value);
      return [c.userId, hex(c.identityKey), c.trust, hex(c.pendingIdentityKey), c.addedAt].join('|');
    }
    case 'peer': {
      const p = decodePeerRecord(value);
      const sessions = [p.active, ...p.archived].filter((s): s is Session => s !== null);
      // one entry per session, so a new session shows up as an extra key, never as a change
      for (const s of sessions) records[`${key}/session/${hex(s.id)}`] = receivingSide(s);
      const t = p.transcript;
      return [p.peerUserId, hex(p.peerIdentityKey), t.sendSeq, hex(t.sendHash), t.recvSeq, hex(t.recvHash), t.pending.length, t.missing.length].join('|');
    }
    default:
      return hex(value);
  }
}

/**
 * The differences between two snapshots that are NOT explained by receipts or a session reset:
 * added keys are allowed only for new sessions and the routing tags of new sessions.
 */
export function unexplainedChanges(before: StateSnapshot, after: StateSnapshot): string[] {
  const problems: string[] = [];
  for (const kind of Object.keys(RECORD_KINDS)) {
    const b = before[kind] ?? {};
    const a = after[kind] ?? {};
    for (const [key, value] of Object.entries(b)) {
      if (!(key in a)) problems.push(`${kind}/${key} removed`);
      else if (a[key] !== value) problems.push(`${kind}/${key} changed`);
    }
    for (const key of Object.keys(a)) {
      if (key in b) continue;
      const newSession = kind === 'peer' && key.includes('/session/');
      if (!newSession && kind !== 'routingTag') problems.push(`${kind}/${key} added`);
    }
  }
  return problems;
}

/** How many sessions were added (session resets) between two snapshots. */
export function addedSessions(before: StateSnapshot, after: StateSnapshot): number {
  return Object.keys(after['peer'] ?? {}).filter((k) => k.includes('/session/') && !(k in (before['peer'] ?? {}))).length;
}
