/**
 * Model-based test of the ratchet (fast-check, fixed seed 42; fast-check prints the seed and path of
 * a failing run). Thousands of steps of send, deliver in any order, drop, duplicate, replay from
 * history, restart from the encoded state, snapshot and restore. An oracle predicts every outcome:
 * - a message not yet delivered in the receiver's lineage decrypts to exactly what was sent, unless
 *   the oracle predicts TooFarAhead (MAX_SKIP on N or PN) or its chain's keys expired (5 DH steps);
 * - a message already delivered is rejected: Duplicate while its header key is kept, else BadMessage;
 * - every rejection leaves the state byte-identical; the skipped-key store stays within its bound;
 * - at the end both sides drain the network and keep talking.
 * Restore models a crash between decrypt and persist: a side can only roll back to
 * a state since its last send (encrypt persists before the ciphertext leaves), and the messages it
 * loses are redelivered later (they were never acked).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { RatchetError } from './errors.ts';
import { MAX_SKIP, MAX_SKIPPED_KEYS_PER_SESSION, SKIPPED_KEY_MAX_DH_STEPS } from './limits.ts';
import {
  canSend,
  decodeRatchetState,
  encodeRatchetState,
  ratchetDecrypt,
  ratchetEncrypt,
  receivingHeaderKeys,
  skippedKeyTotal,
  type RatchetState,
} from './ratchet.ts';
import { seededCrypto } from './vectors/test-crypto.ts';
import { dec, enc, hex, newPair } from './vectors/ratchet-fixtures.ts';

let base: Crypto;
beforeAll(async () => {
  base = await createSodiumCrypto();
});

type SideName = 'A' | 'B';
interface Sent {
  id: number;
  from: SideName;
  bytes: Uint8Array;
  text: string;
  /** sender's DH step count when sent: its sending chain ("epoch") */
  epoch: number;
  n: number;
  pn: number;
}
interface Lineage {
  state: RatchetState;
  delivered: Set<number>;
}
interface Side extends Lineage {
  name: SideName;
  /** states since the last send (a restore may go back to any of them) */
  snapshots: Lineage[];
}

type Action =
  | { kind: 'send'; side: SideName; size: number }
  | { kind: 'deliver'; pick: number }
  | { kind: 'duplicate'; pick: number }
  | { kind: 'drop'; pick: number }
  | { kind: 'replay'; pick: number }
  | { kind: 'restart'; side: SideName }
  | { kind: 'restore'; side: SideName; pick: number };

const side = fc.constantFrom<SideName>('A', 'B');
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), side, size: fc.nat(600) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), side }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restore' as const), side, pick: fc.nat() }) },
);

function run(actions: readonly Action[]): void {
  const crypto = seededCrypto(base, 42);
  const pair = newPair(crypto);
  const A: Side = { name: 'A', state: pair.alice, delivered: new Set(), snapshots: [] };
  const B: Side = { name: 'B', state: pair.bob, delivered: new Set(), snapshots: [] };
  A.snapshots.push({ state: A.state, delivered: new Set() });
  B.snapshots.push({ state: B.state, delivered: new Set() });
  const sides = { A, B };
  const other = (s: Side): Side => (s === A ? B : A);
  // the sender epoch of each ratchet public key (B's signed prekey is B's epoch 0)
  const epochOfKey = new Map<string, number>([[hex(B.state.dhs.publicKey), 0]]);
  const history: Sent[] = [];
  let network: Sent[] = [];
  let now = 1_000_000;
  const counts = { ok: 0, duplicate: 0, bad: 0, tooFar: 0, restores: 0 };

  const send = (s: Side, size: number): void => {
    if (!canSend(s.state)) return;
    const sent: Omit<Sent, 'bytes'> = { id: history.length, from: s.name, text: `${s.name}#${history.length}:${'.'.repeat(size)}`, epoch: s.state.dhStep, n: s.state.ns, pn: s.state.pn };
    epochOfKey.set(hex(s.state.dhs.publicKey), s.state.dhStep);
    const e = ratchetEncrypt(crypto, s.state, enc(sent.text), now);
    s.state = e.next;
    s.snapshots = [{ state: s.state, delivered: new Set(s.delivered) }];
    const m = { ...sent, bytes: e.message };
    history.push(m);
    network.push(m);
  };

  const receive = (m: Sent): void => {
    const r = other(sides[m.from]);
    const recvEpoch = r.state.dhr === null ? -1 : (epochOfKey.get(hex(r.state.dhr)) ?? -1);
    const age = recvEpoch - m.epoch; // receiver DH steps since m's chain was current
    let expected: string;
    if (m.epoch > recvEpoch + 1) throw new Error(`model: message from epoch ${m.epoch} while receiver is at ${recvEpoch}`);
    if (r.delivered.has(m.id) || age >= SKIPPED_KEY_MAX_DH_STEPS) expected = age <= SKIPPED_KEY_MAX_DH_STEPS ? 'Duplicate' : 'BadMessage';
    else if (age === 0 && m.n >= r.state.nr && m.n - r.state.nr > MAX_SKIP) expected = 'TooFarAhead';
    else if (age === -1 && (m.pn - r.state.nr > MAX_SKIP || m.n > MAX_SKIP)) expected = 'TooFarAhead';
    else expected = 'ok';
    const before = hex(encodeRatchetState(r.state));
    let got = 'ok';
    try {
      const d = ratchetDecrypt(crypto, r.state, m.bytes, now);
      expect(dec(d.plaintext)).toBe(m.text);
      r.state = d.next;
      r.delivered.add(m.id);
      r.snapshots.push({ state: r.state, delivered: new Set(r.delivered) });
    } catch (e) {
      if (!(e instanceof RatchetError)) throw e;
      got = e.code;
      expect(hex(encodeRatchetState(r.state))).toBe(before);
    }
    // An evicted key (store at its bound) may turn an expected success into a Duplicate.
    if (!(expected === 'ok' && got === 'Duplicate' && skippedKeyTotal(r.state) >= MAX_SKIPPED_KEYS_PER_SESSION)) {
      expect(`${m.id} ${got}`).toBe(`${m.id} ${expected}`);
    }
    counts[got === 'ok' ? 'ok' : got === 'Duplicate' ? 'duplicate' : got === 'TooFarAhead' ? 'tooFar' : 'bad']++;
    expect(skippedKeyTotal(r.state)).toBeLessThanOrEqual(MAX_SKIPPED_KEYS_PER_SESSION);
    expect(receivingHeaderKeys(r.state).length).toBeLessThanOrEqual(2 + SKIPPED_KEY_MAX_DH_STEPS);
  };

  const take = (pick: number, keep: boolean): Sent | undefined => {
    if (network.length === 0) return undefined;
    const i = pick % network.length;
    const m = network[i]!;
    if (!keep) network.splice(i, 1);
    return m;
  };

  for (const a of actions) {
    now += 1;
    switch (a.kind) {
      case 'send':
        send(sides[a.side], a.size);
        break;
      case 'deliver':
      case 'duplicate': {
        const m = take(a.pick, a.kind === 'duplicate');
        if (m) receive(m);
        break;
      }
      case 'drop':
        take(a.pick, false);
        break;
      case 'replay':
        if (history.length > 0) receive(history[a.pick % history.length]!);
        break;
      case 'restart': {
        const s = sides[a.side];
        const bytes = encodeRatchetState(s.state);
        s.state = decodeRatchetState(bytes);
        expect(hex(encodeRatchetState(s.state))).toBe(hex(bytes));
        break;
      }
      case 'restore': {
        const s = sides[a.side];
        const snap = s.snapshots[a.pick % s.snapshots.length]!;
        // messages delivered after the snapshot were never acked: the relay redelivers them
        for (const id of s.delivered) if (!snap.delivered.has(id)) network.push(history[id]!);
        s.state = snap.state;
        s.delivered = new Set(snap.delivered);
        s.snapshots = s.snapshots.slice(0, s.snapshots.indexOf(snap) + 1);
        counts.restores++;
        break;
      }
    }
  }
  // Drain the network in order, then both sides keep talking.
  for (const m of network) receive(m);
  network = [];
  for (let i = 0; i < 3; i++) {
    for (const [from, to] of [
      [A, B],
      [B, A],
    ] as const) {
      if (!canSend(from.state)) continue;
      send(from, 10);
      const m = network.pop()!;
      receive(m);
      expect(to.delivered.has(m.id)).toBe(true);
    }
  }
  expect(canSend(A.state) && canSend(B.state)).toBe(true);
  expect(counts.ok).toBeGreaterThan(0);
  if (process.env.MODEL_DEBUG) console.log(JSON.stringify({ ...counts, steps: actions.length, sent: history.length, dhStepsA: A.state.dhStep, dhStepsB: B.state.dhStep }));
}

describe('ratchet model (fast-check, seed 42)', () => {
  it('send / deliver out of order / drop / duplicate / replay / restart / restore: every outcome as predicted', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1500, maxLength: 2500 }), (actions) => {
        run(actions);
      }),
      { seed: 42, numRuns: 3, endOnFailure: true },
    );
  });
});
