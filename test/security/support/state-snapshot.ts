/**
 * A stopped daemon's store, record by record, for "bad input changed nothing" checks: every record
 * of every kind is decrypted through the store (so the at-rest encryption's random nonces do not
 * matter) and compared byte for byte. Only for stopped daemons: the daemon's close() waits for the
 * work it started, so a snapshot of a stopped daemon holds every effect of what it was sent.
 *
 * storeDifferences lists every record added, removed or changed, except the changes the caller
 * names and describes exactly (a comparator per record that returns what is wrong with it):
 *  - bundleVersionRaised(n): the prekey record, with only the bundle version n higher (each start
 *    publishes a fresh bundle);
 *  - sendingChainOnly(report): a peer record in which only the active session's sending chain
 *    (CKs, Ns) moved on (receipts sent on it).
 */
import type { Crypto } from '../../../core/crypto.ts';
import { decodePrekeyState, encodePrekeyState } from '../../../core/index.ts';
import { decodePeerHead } from '../../../daemon/engine/peer-layout.ts';
import { RECORD_KINDS, type RecordKind } from '../../../daemon/store/kinds.ts';
import { openDataDirStore } from '../../../daemon/store/open-store.ts';

/** "kind/key" → decrypted value. */
export type StoreSnapshot = ReadonlyMap<string, Uint8Array>;

/** What is wrong with a record's change (empty: exactly the change expected). */
export type ExpectedChange = (before: Uint8Array, after: Uint8Array) => string[];

export async function snapshotStore(crypto: Crypto, dataDir: string): Promise<StoreSnapshot> {
  const store = await openDataDirStore({ dataDir, crypto });
  const out = new Map<string, Uint8Array>();
  try {
    for (const kind of Object.keys(RECORD_KINDS) as RecordKind[]) {
      for await (const r of store.iterate(kind)) {
        if (!r.ok) throw r.error;
        out.set(`${kind}/${r.key}`, r.value.slice());
      }
    }
  } finally {
    await store.close();
  }
  return out;
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Every difference between two snapshots that is not one of the `expected` changes (keyed "kind/key"). */
export function storeDifferences(before: StoreSnapshot, after: StoreSnapshot, expected: Record<string, ExpectedChange> = {}): string[] {
  const problems: string[] = [];
  for (const [key, value] of before) {
    const now = after.get(key);
    if (now === undefined) problems.push(`${key} removed`);
    else if (key in expected) problems.push(...expected[key]!(value, now).map((p) => `${key}: ${p}`));
    else if (!equal(value, now)) problems.push(`${key} changed`);
  }
  for (const key of after.keys()) if (!before.has(key)) problems.push(`${key} added`);
  for (const key of Object.keys(expected)) if (!before.has(key)) problems.push(`${key} expected to change, but not in the store`);
  return problems;
}

/** The prekey record with its bundle version exactly `by` higher, and nothing else changed. */
export function bundleVersionRaised(by: number): ExpectedChange {
  return (before, after) => {
    const b = decodePrekeyState(before);
    const a = decodePrekeyState(after);
    const problems: string[] = [];
    if (a.bundleVersion !== b.bundleVersion + by) problems.push(`bundle version ${b.bundleVersion} → ${a.bundleVersion}, expected +${by}`);
    if (!equal(encodePrekeyState({ ...a, bundleVersion: b.bundleVersion }), before)) problems.push('prekeys changed beyond the bundle version');
    return problems;
  };
}

/** A peer record in which only the active session's CKs and Ns changed (Ns may only grow); reports Ns's growth. */
export function sendingChainOnly(report: (sent: number) => void): ExpectedChange {
  return (before, after) => {
    // The record's head (daemon/engine/peer-layout.ts): the active session lives there; the other
    // parts of the record are records of their own, compared byte for byte like any other.
    const b = decodePeerHead(before);
    const a = decodePeerHead(after);
    if (a.active === null || b.active === null || !equal(a.active.id, b.active.id)) return ['the active session changed'];
    const br = b.active.ratchet;
    const ar = a.active.ratchet;
    const problems: string[] = [];
    if (ar.ns < br.ns) problems.push(`Ns went back (${br.ns} → ${ar.ns})`);
    if (!equal(a.withActive({ ...a.active, ratchet: ar.with({ cks: br.cks, ns: br.ns }) }), before)) problems.push('changed beyond the active sending chain');
    report(ar.ns - br.ns);
    return problems;
  };
}
