/**
 * Model-based test of the ratchet (fast-check; seed 42 unless RATCHETD_MODEL_SEED is set; on a
 * failure fast-check prints the seed and the path of the failing run, and the step names itself).
 * Random runs of send, converse (a reply delivered at once), bursts (up to MAX_SKIP + 3 messages,
 * the last one possibly first), deliver in any order, deliver the oldest, drop, duplicate, replay
 * from history, restart from the encoded state, snapshot and restore; then fixed scenarios for the
 * rare rules (MAX_SKIP on N and PN at the bound and one past it, a store flooded past its bound, keys
 * expired by DH steps and by age). The model (vectors/ratchet-model.ts) predicts every step:
 * - each received message: delivered with exactly the plaintext sent, or Duplicate (its key used,
 *   evicted from a full store, or expired by DH steps or age), BadMessage (its chain's header key
 *   is gone), TooFarAhead (MAX_SKIP on N or PN) — that outcome and no other;
 * - after each step: canSend, Ns, Nr, PN, the DH step count, the number of skipped keys and of
 *   receiving header keys equal the model's; a refused message leaves the state byte-identical;
 * - at the end both sides drain the network (a TooFarAhead message is offered again later, as the
 *   daemon's outbox re-sends it) and keep talking.
 * Every rule of the model decides at least one step (the coverage checks): a rule no step reaches
 * would be a claim left unchecked.
 * Restore models a crash between decrypt and persist: a side can only roll back to a state since
 * its last send (encrypt persists before the ciphertext leaves), and the messages it loses are
 * redelivered later (they were never acked).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { RatchetError } from './errors.ts';
import { MAX_SKIP, SKIPPED_KEY_MAX_AGE_MS, SKIPPED_KEY_MAX_DH_STEPS } from './limits.ts';
import { canSend, decodeRatchetState, encodeRatchetState, ratchetDecrypt, ratchetEncrypt, receivingHeaderKeys, skippedKeyTotal, type RatchetState } from './ratchet.ts';
import { seededCrypto } from './vectors/test-crypto.ts';
import { dec, enc, hex, newPair } from './vectors/ratchet-fixtures.ts';
import { headerKeyCount, initialSide, predictReceive, predictSend, type ModelMessage, type ModelSide } from './vectors/ratchet-model.ts';

const SEED = Number(process.env['RATCHETD_MODEL_SEED'] ?? 42);
let base: Crypto;
beforeAll(async () => {
  base = await createSodiumCrypto();
});

type SideName = 'A' | 'B';
interface Sent extends ModelMessage {
  id: number;
  from: SideName;
  bytes: Uint8Array;
  text: string;
}
interface Lineage {
  state: RatchetState;
  model: ModelSide;
  /** ids of the messages delivered in this lineage */
  delivered: ReadonlySet<number>;
}
interface Side extends Lineage {
  name: SideName;
  /** states since the last send (a restore may go back to any of them) */
  snapshots: Lineage[];
}

type Action =
  | { kind: 'send'; side: SideName; size: number }
  | { kind: 'converse'; side: SideName }
  | { kind: 'burst'; side: SideName; count: number; deliverLast: boolean }
  | { kind: 'flood'; side: SideName }
  | { kind: 'deliver'; pick: number }
  | { kind: 'deliverOldest' }
  | { kind: 'duplicate'; pick: number }
  | { kind: 'drop'; pick: number }
  | { kind: 'replay'; pick: number }
  | { kind: 'restart'; side: SideName }
  | { kind: 'restore'; side: SideName; pick: number }
  | { kind: 'wait' };

const side = fc.constantFrom<SideName>('A', 'B');
/** Bursts: a few messages, or about MAX_SKIP (the bound on one skip). */
const burstSize = fc.oneof({ weight: 19, arbitrary: fc.integer({ min: 2, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: MAX_SKIP - 2, max: MAX_SKIP + 3 }) });
/** A flood (scenarios only): this many bursts of FLOOD_BURST, each answered by its last message: more keys skipped than the store holds. */
const FLOOD_BURSTS = 3;
const FLOOD_BURST = 700;
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 24, arbitrary: fc.record({ kind: fc.constant('send' as const), side, size: fc.nat(600) }) },
  // a message delivered at once: conversations make DH steps (chains retire, then expire)
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('converse' as const), side }) },
  // a burst whose last message may arrive first: the receiver skips (and stores) the keys before it
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), side, count: burstSize, deliverLast: fc.boolean() }) },
  { weight: 32, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('restart' as const), side }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('restore' as const), side, pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'deliverOldest' as const }) },
);

/** The reasons the model gave (which rule decided each received message) → how often. */
type Coverage = Map<string, number>;

function expectCounters(s: Side, step: string): void {
  const { state, model } = s;
  const real = { canSend: canSend(state), ns: state.ns, pn: state.pn, nr: state.nr, dhStep: state.dhStep, skipped: skippedKeyTotal(state), headerKeys: receivingHeaderKeys(state).length };
  const predicted = { canSend: model.canSend, ns: model.ns, pn: model.pn, nr: model.hasHkr ? model.nr : 0, dhStep: model.dhStep, skipped: model.skipped.length, headerKeys: headerKeyCount(model) };
  expect(real, `${step}: ${s.name}'s counters`).toEqual(predicted);
}

function run(actions: readonly Action[], coverage: Coverage): void {
  const crypto = seededCrypto(base, SEED);
  const pair = newPair(crypto);
  const mk = (name: SideName, state: RatchetState): Side => {
    const model = initialSide(name === 'A');
    return { name, state, model, delivered: new Set(), snapshots: [{ state, model, delivered: new Set() }] };
  };
  const A = mk('A', pair.alice);
  const B = mk('B', pair.bob);
  const sides = { A, B };
  const other = (s: Side): Side => (s === A ? B : A);
  const history: Sent[] = [];
  let network: Sent[] = [];
  let now = 1_000_000;

  const send = (s: Side, size: number): Sent | undefined => {
    if (!s.model.canSend) {
      expect(canSend(s.state), `${s.name} can send although the model says it cannot`).toBe(false);
      return undefined;
    }
    const predicted = predictSend(s.model, now);
    const text = `${s.name}#${history.length}:${'.'.repeat(size)}`;
    const e = ratchetEncrypt(crypto, s.state, enc(text), now);
    s.state = e.next;
    s.model = predicted.next;
    s.snapshots = [{ state: s.state, model: s.model, delivered: s.delivered }];
    const m: Sent = { ...predicted.message, id: history.length, from: s.name, text, bytes: e.message };
    history.push(m);
    network.push(m);
    expectCounters(s, `send #${m.id}`);
    return m;
  };

  /** Receives m; returns the outcome (asserted against the model). */
  const receive = (m: Sent): string => {
    const r = other(sides[m.from]);
    const step = `message #${m.id} (${m.from} epoch ${m.epoch}, N ${m.n}, PN ${m.pn}) at ${r.name}`;
    const p = predictReceive(r.model, m, now);
    coverage.set(p.reason, (coverage.get(p.reason) ?? 0) + 1);
    // the encoded state before a refusal the model predicts (a refusal it does not predict fails anyway)
    const before = p.outcome === 'ok' ? undefined : Buffer.from(encodeRatchetState(r.state));
    let got = 'ok';
    try {
      const d = ratchetDecrypt(crypto, r.state, m.bytes, now);
      expect(dec(d.plaintext), step).toBe(m.text);
      r.state = d.next;
    } catch (e) {
      if (!(e instanceof RatchetError)) throw e;
      got = e.code;
      if (before !== undefined) expect(before.equals(encodeRatchetState(r.state)), `${step}: refused, state byte-identical`).toBe(true);
    }
    expect(got, `${step}: predicted ${p.reason}`).toBe(p.outcome);
    if (got === 'ok') {
      r.model = p.next;
      r.delivered = new Set(r.delivered).add(m.id);
      r.snapshots.push({ state: r.state, model: r.model, delivered: r.delivered });
    }
    expectCounters(r, step);
    return got;
  };

  /** Delivers m; a TooFarAhead message goes back on the network (the sender re-sends it). */
  const deliver = (m: Sent): string => {
    const got = receive(m);
    if (got === 'TooFarAhead') network.push(m);
    return got;
  };

  /** Sends count messages; the last may arrive at once (the keys before it are skipped). Returns the first. */
  const burst = (s: Side, count: number, deliverLast: boolean): Sent | undefined => {
    const sent: Sent[] = [];
    for (let i = 0; i < count; i++) {
      const m = send(s, 0);
      if (m !== undefined) sent.push(m);
    }
    const last = sent.at(-1);
    if (deliverLast && last !== undefined && sent.length > 1) deliver(network.splice(network.indexOf(last), 1)[0]!);
    return sent[0];
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
      case 'converse': {
        const m = send(sides[a.side], 0);
        if (m !== undefined) deliver(network.pop()!);
        break;
      }
      case 'burst':
        burst(sides[a.side], a.count, a.deliverLast);
        break;
      case 'flood': {
        const first = burst(sides[a.side], FLOOD_BURST, true);
        for (let i = 1; i < FLOOD_BURSTS; i++) burst(sides[a.side], FLOOD_BURST, true);
        // the oldest key was evicted: its message, arriving now, is a Duplicate
        if (first !== undefined) deliver(network.splice(network.indexOf(first), 1)[0]!);
        break;
      }
      case 'deliver':
      case 'duplicate': {
        const m = take(a.pick, a.kind === 'duplicate');
        if (m !== undefined) {
          if (a.kind === 'deliver') deliver(m);
          else receive(m);
        }
        break;
      }
      case 'deliverOldest': {
        const m = network.shift();
        if (m !== undefined) deliver(m);
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
        const i = a.pick % s.snapshots.length;
        const snap = s.snapshots[i]!;
        // messages delivered after the snapshot were never acked: the relay redelivers them
        for (const id of s.delivered) if (!snap.delivered.has(id)) network.push(history[id]!);
        s.state = snap.state;
        s.model = snap.model;
        s.delivered = snap.delivered;
        s.snapshots = s.snapshots.slice(0, i + 1);
        expectCounters(s, `restore of ${s.name}`);
        break;
      }
      case 'wait':
        now += SKIPPED_KEY_MAX_AGE_MS + 1;
        break;
    }
  }
  // Drain the network in order: every message is received once (a TooFarAhead one again later,
  // after the messages before it), until nothing is left or nothing more can be delivered.
  let stuck = 0;
  while (network.length > 0 && stuck <= network.length) {
    const m = network.shift()!;
    stuck = deliver(m) === 'TooFarAhead' ? stuck + 1 : 0;
  }
  expect(network.map((m) => m.id), 'messages that could never be delivered').toEqual([]);
  for (let i = 0; i < 3; i++) {
    for (const [from, to] of [
      [A, B],
      [B, A],
    ] as const) {
      const m = send(from, 10);
      expect(m, `${from.name} can send after the drain`).toBeDefined();
      network.pop();
      expect(receive(m!), `${to.name} receives ${from.name}'s message after the drain`).toBe('ok');
    }
  }
  if (process.env['MODEL_DEBUG']) console.log(JSON.stringify({ steps: actions.length, sent: history.length, dhStepsA: A.state.dhStep, dhStepsB: B.state.dhStep }));
}

/** Runs a fixed scenario through the same model-checked runner; returns the rules that decided its steps. */
function scenario(actions: readonly Action[]): string[] {
  const coverage: Coverage = new Map();
  run(actions, coverage);
  return [...coverage.keys()];
}
const converse = (side: SideName): Action => ({ kind: 'converse', side });
const burst = (side: SideName, count: number, deliverLast: boolean): Action => ({ kind: 'burst', side, count, deliverLast });
const oldest: Action = { kind: 'deliverOldest' };
const roundTrips = (n: number): Action[] => Array.from({ length: n }, () => [converse('B'), converse('A')]).flat();

describe(`ratchet model (fast-check, seed ${SEED})`, () => {
  it('random runs of send / converse / burst / deliver in any order / drop / duplicate / replay / restart / restore: every outcome as predicted', () => {
    const coverage: Coverage = new Map();
    fc.assert(
      fc.property(fc.array(action, { minLength: 1500, maxLength: 2500 }), (actions) => {
        run(actions, coverage);
      }),
      { seed: SEED, numRuns: 3, endOnFailure: true },
    );
    if (process.env['MODEL_DEBUG']) console.log(JSON.stringify(Object.fromEntries(coverage)));
    // the common rules decide steps of any run; the rare ones have their scenarios below
    for (const rule of [
      'delivered: current chain, in order',
      'delivered: current chain, keys skipped',
      'delivered: new chain',
      'delivered: new chain, keys skipped',
      'delivered from a skipped key (current chain)',
      'delivered from a skipped key (retired chain)',
      'Duplicate (current chain): key used',
      'Duplicate (retired chain): key used',
      'BadMessage: header key gone (more than SKIPPED_KEY_MAX_DH_STEPS chains ago)',
    ]) {
      expect([...coverage.keys()], `no step was decided by "${rule}" (seed ${SEED})`).toContain(rule);
    }
  });

  // Scenarios for the rare rules, through the same runner: every step checked against the model.
  it('a message N may skip MAX_SKIP keys, not one more (TooFarAhead), on a new chain and on the current one', () => {
    // a burst whose last message arrives first: N = count - 1 on a new chain, N - Nr = count - 1 on the current one
    const newChain = (count: number): string[] => scenario([converse('A'), converse('B'), burst('A', count, true)]);
    const currentChain = (count: number): string[] => scenario([converse('A'), converse('B'), converse('A'), burst('A', count, true)]);
    expect(newChain(MAX_SKIP + 1)).not.toContain('TooFarAhead: N of a new chain past MAX_SKIP');
    expect(newChain(MAX_SKIP + 2)).toContain('TooFarAhead: N of a new chain past MAX_SKIP');
    expect(currentChain(MAX_SKIP + 1)).not.toContain('TooFarAhead: N past MAX_SKIP on the current chain');
    expect(currentChain(MAX_SKIP + 2)).toContain('TooFarAhead: N past MAX_SKIP on the current chain');
  });

  it('a new chain may leave MAX_SKIP keys of the old one to skip (PN), not one more', () => {
    // B sends a burst of which A gets only the first; B's next chain then names PN = the burst's length
    const pnScenario = (count: number): string[] => scenario([converse('A'), burst('B', count, false), oldest, converse('A'), converse('B')]);
    expect(pnScenario(MAX_SKIP + 1)).not.toContain('TooFarAhead: PN past MAX_SKIP');
    expect(pnScenario(MAX_SKIP + 2)).toContain('TooFarAhead: PN past MAX_SKIP');
  });

  it('more skipped keys than the store holds: the oldest are evicted, and their messages are lost (Duplicate)', () => {
    const rules = scenario([converse('A'), converse('B'), { kind: 'flood', side: 'A' }, ...roundTrips(2)]);
    expect(rules).toContain('Duplicate (current chain): key evicted');
    expect(rules).toContain('Duplicate (retired chain): key evicted');
  });

  it(`skipped keys expire after ${SKIPPED_KEY_MAX_DH_STEPS} DH steps (Duplicate), and the header key one step later (BadMessage)`, () => {
    const rules = scenario([converse('A'), converse('B'), burst('A', 3, true), ...roundTrips(SKIPPED_KEY_MAX_DH_STEPS), oldest, ...roundTrips(1), oldest]);
    expect(rules).toContain('Duplicate (retired chain): key expired-dh');
    expect(rules).toContain('BadMessage: header key gone (more than SKIPPED_KEY_MAX_DH_STEPS chains ago)');
  });

  it('skipped keys expire after SKIPPED_KEY_MAX_AGE_MS (Duplicate)', () => {
    const rules = scenario([converse('A'), converse('B'), burst('A', 3, true), { kind: 'wait' }, oldest]);
    expect(rules).toContain('Duplicate (current chain): key expired-age');
  });
});
