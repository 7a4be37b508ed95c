/**
 * TEST ONLY. An abstract model of one side of the Double Ratchet with header encryption, for the
 * model-based test (core/ratchet.model.test.ts): no keys, only what decides the outcome of a
 * received message. It predicts, for every message, exactly what ratchetDecrypt returns
 * (delivered, or Duplicate / BadMessage / TooFarAhead) and why, and tracks the counters and the
 * skipped-key store the real state must have afterwards.
 *
 * Chains are named by the sender's DH step when it sent ("epoch"): side A starts at epoch 0 with
 * B's signed prekey as DHr (B's epoch 0, which never sends); B starts with no DHr (-1). A header
 * under NHKr is the next epoch (a DH ratchet step), under HKr the current one, under a retired HKr
 * one of the last SKIPPED_KEY_MAX_DH_STEPS former chains; anything older has no header key left.
 * The skipped-key store is a list in store order (oldest first), bounded by
 * MAX_SKIPPED_KEYS_PER_SESSION (oldest evicted), chains dropped after SKIPPED_KEY_MAX_DH_STEPS
 * receiving DH steps, keys after SKIPPED_KEY_MAX_AGE_MS — the rules of ratchet-receive.ts and
 * skipped-keys.ts, restated in the order the code applies them.
 */
import { MAX_SKIP, MAX_SKIPPED_KEYS_PER_SESSION, SKIPPED_KEY_MAX_AGE_MS, SKIPPED_KEY_MAX_DH_STEPS } from '../limits.ts';

export interface ModelKey {
  readonly epoch: number;
  readonly n: number;
  /** the receiver's DH step while that chain was current */
  readonly dhStep: number;
  /** when it was skipped */
  readonly at: number;
}

/** Why a key is no longer in the store (for the outcome's reason). */
export type GoneBecause = 'evicted' | 'expired-dh' | 'expired-age';

export interface ModelSide {
  // sending (DR: DHs is renewed at every receiving DH step, so the sending epoch is dhStep)
  readonly canSend: boolean;
  readonly ns: number;
  readonly pn: number;
  // receiving
  readonly dhStep: number;
  readonly dhrEpoch: number;
  readonly hasHkr: boolean;
  readonly nr: number;
  /** epochs of the retired HKr, newest first */
  readonly retired: readonly number[];
  readonly skipped: readonly ModelKey[];
  /** "epoch:n" → why its key left the store unused (a key not in the store nor here was used) */
  readonly gone: ReadonlyMap<string, GoneBecause>;
}

export interface ModelMessage {
  readonly epoch: number;
  readonly n: number;
  readonly pn: number;
}

export type Outcome = 'ok' | 'Duplicate' | 'BadMessage' | 'TooFarAhead';

export interface Prediction {
  readonly outcome: Outcome;
  /** a label for coverage: which rule decided */
  readonly reason: string;
  /** the side after the message (the same object when it is refused) */
  readonly next: ModelSide;
}

export function initialSide(initiator: boolean): ModelSide {
  return { canSend: initiator, ns: 0, pn: 0, dhStep: 0, dhrEpoch: initiator ? 0 : -1, hasHkr: false, nr: 0, retired: [], skipped: [], gone: new Map() };
}

const keyName = (epoch: number, n: number): string => `${epoch}:${n}`;

function markGone(gone: ReadonlyMap<string, GoneBecause>, keys: readonly ModelKey[], why: GoneBecause): ReadonlyMap<string, GoneBecause> {
  if (keys.length === 0) return gone;
  const out = new Map(gone);
  for (const k of keys) out.set(keyName(k.epoch, k.n), why);
  return out;
}

/** expireSkipped: chains SKIPPED_KEY_MAX_DH_STEPS receiving steps old, keys older than the age limit. */
function expire(s: ModelSide, dhStep: number, now: number): ModelSide {
  const byDh = s.skipped.filter((k) => dhStep - k.dhStep >= SKIPPED_KEY_MAX_DH_STEPS);
  const byAge = s.skipped.filter((k) => dhStep - k.dhStep < SKIPPED_KEY_MAX_DH_STEPS && now - k.at > SKIPPED_KEY_MAX_AGE_MS);
  if (byDh.length === 0 && byAge.length === 0) return s;
  const kept = s.skipped.filter((k) => dhStep - k.dhStep < SKIPPED_KEY_MAX_DH_STEPS && now - k.at <= SKIPPED_KEY_MAX_AGE_MS);
  return { ...s, skipped: kept, gone: markGone(markGone(s.gone, byDh, 'expired-dh'), byAge, 'expired-age') };
}

/** addSkipped: keys nr..until-1 of a chain appended, then the oldest evicted beyond the bound. */
function skip(s: ModelSide, epoch: number, from: number, until: number, dhStep: number, now: number): ModelSide {
  if (until <= from) return s;
  const added: ModelKey[] = [];
  for (let n = from; n < until; n++) added.push({ epoch, n, dhStep, at: now });
  const all = s.skipped.concat(added);
  const excess = all.length - MAX_SKIPPED_KEYS_PER_SESSION;
  if (excess <= 0) return { ...s, skipped: all };
  return { ...s, skipped: all.slice(excess), gone: markGone(s.gone, all.slice(0, excess), 'evicted') };
}

/** A message whose key must come from the store (TrySkippedMessageKeysHE). */
function fromStore(s: ModelSide, m: ModelMessage, where: string): Prediction {
  const i = s.skipped.findIndex((k) => k.epoch === m.epoch && k.n === m.n);
  if (i < 0) return { outcome: 'Duplicate', reason: `Duplicate (${where}): key ${s.gone.get(keyName(m.epoch, m.n)) ?? 'used'}`, next: s };
  const skipped = s.skipped.slice(0, i).concat(s.skipped.slice(i + 1));
  return { outcome: 'ok', reason: `delivered from a skipped key (${where})`, next: { ...s, skipped } };
}

/** What ratchetDecrypt does with message m, received at `now`. */
export function predictReceive(side: ModelSide, m: ModelMessage, now: number): Prediction {
  if (m.epoch > side.dhrEpoch + 1) throw new Error(`model: a message of epoch ${m.epoch} while DHr is epoch ${side.dhrEpoch}`);
  const s = expire(side, side.dhStep, now); // on a copy: committed only if the message is accepted
  const refused = (outcome: Outcome, reason: string): Prediction => ({ outcome, reason, next: side });
  if (m.epoch === s.dhrEpoch + 1) {
    // DHRatchetHE: MAX_SKIP on PN (the rest of the current chain) and on N, before anything else
    if (m.pn - s.nr > MAX_SKIP) return refused('TooFarAhead', 'TooFarAhead: PN past MAX_SKIP');
    if (m.n > MAX_SKIP) return refused('TooFarAhead', 'TooFarAhead: N of a new chain past MAX_SKIP');
    let t = s.hasHkr ? skip(s, s.dhrEpoch, s.nr, m.pn, s.dhStep, now) : s;
    const dhStep = s.dhStep + 1;
    t = skip(t, m.epoch, 0, m.n, dhStep, now);
    t = expire(t, dhStep, now);
    const next: ModelSide = {
      ...t,
      canSend: true,
      pn: s.ns,
      ns: 0,
      dhStep,
      dhrEpoch: m.epoch,
      hasHkr: true,
      nr: m.n + 1,
      retired: s.hasHkr ? [s.dhrEpoch, ...s.retired].slice(0, SKIPPED_KEY_MAX_DH_STEPS) : s.retired,
    };
    return { outcome: 'ok', reason: m.n > 0 || m.pn > s.nr ? 'delivered: new chain, keys skipped' : 'delivered: new chain', next };
  }
  if (s.hasHkr && m.epoch === s.dhrEpoch) {
    if (m.n < s.nr) return fromStore(s, m, 'current chain');
    if (m.n - s.nr > MAX_SKIP) return refused('TooFarAhead', 'TooFarAhead: N past MAX_SKIP on the current chain');
    const t = skip(s, m.epoch, s.nr, m.n, s.dhStep, now);
    const next = { ...t, nr: m.n + 1 };
    return { outcome: 'ok', reason: m.n > s.nr ? 'delivered: current chain, keys skipped' : 'delivered: current chain, in order', next };
  }
  if (s.retired.includes(m.epoch)) {
    const p = fromStore(s, m, 'retired chain');
    return p.outcome === 'ok' ? p : refused(p.outcome, p.reason);
  }
  return refused('BadMessage', 'BadMessage: header key gone (more than SKIPPED_KEY_MAX_DH_STEPS chains ago)');
}

/** What ratchetEncrypt does to the side (the message it sends is {epoch: dhStep, n: ns, pn}). */
export function predictSend(side: ModelSide, now: number): { message: ModelMessage; next: ModelSide } {
  if (!side.canSend) throw new Error('model: this side cannot send yet');
  const s = expire(side, side.dhStep, now);
  return { message: { epoch: s.dhStep, n: s.ns, pn: s.pn }, next: { ...s, ns: s.ns + 1 } };
}

/** Number of receiving header keys the state must hold (HKr, NHKr, retired). */
export function headerKeyCount(s: ModelSide): number {
  return (s.hasHkr ? 1 : 0) + 1 + s.retired.length;
}
