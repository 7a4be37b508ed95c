/**
 * The three ways a received header can be opened (DR §4.5 RatchetDecryptHE, DecryptHeader,
 * SkipMessageKeysHE, DHRatchetHE). Each works on locals and returns the next state only after the
 * body authenticates; a throw commits nothing.
 */
import type { Crypto } from './crypto.ts';
import { DecryptError } from './errors.ts';
import type { Header } from './header.ts';
import { headerKeyTag, kdfCk, kdfRk } from './kdf.ts';
import { MAX_CHAIN_COUNTER, MAX_SKIP, SKIPPED_KEY_MAX_DH_STEPS } from './limits.ts';
import type { RatchetState } from './ratchet-state.ts';
import { openMessage, type ParsedMessage } from './ratchet-message.ts';
import { addSkipped, expireSkipped, findSkipped, removeSkipped, type SkippedKey } from './skipped-keys.ts';

export interface Received {
  readonly plaintext: Uint8Array;
  readonly next: RatchetState;
}

/** X25519 with a received ratchet key; a low-order point (crypto.x25519 throws) becomes BadMessage. */
function dh(crypto: Crypto, privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return crypto.x25519(privateKey, publicKey);
  } catch (cause) {
    throw new DecryptError('BadMessage', 'ratchet: invalid ratchet key', { cause });
  }
}

/** DR §3.5 MAX_SKIP guard (SkipMessageKeys' check), done before any derivation. */
function checkSkip(nr: number, until: number): void {
  if (until - nr > MAX_SKIP) throw new DecryptError('TooFarAhead', 'ratchet: message too far ahead');
}

/** N of a received message must leave room for Nr = N + 1 below the counter limit. */
function checkCounter(n: number): void {
  if (n >= MAX_CHAIN_COUNTER) throw new DecryptError('SessionExhausted', 'ratchet: receiving counter exhausted');
}

/**
 * The message keys of a chain from `from` up to (excluding) `until`, and CK at `until`.
 * Intermediate chain keys are zeroed; `ck` itself (owned by a state) is not.
 */
function skipKeys(crypto: Crypto, ck: Uint8Array, from: number, until: number, now: number): { ck: Uint8Array; keys: SkippedKey[] } {
  const keys: SkippedKey[] = [];
  // stored as a u64 of whole milliseconds: a clock that is fractional, negative or absurd is clamped
  const at = Number.isSafeInteger(now) && now >= 0 ? now : Math.min(Math.max(Math.floor(now) || 0, 0), Number.MAX_SAFE_INTEGER);
  for (let n = from; n < until; n++) {
    const step = kdfCk(crypto, ck);
    if (n > from) crypto.zero(ck);
    keys.push({ n, mk: step.messageKey, at });
    ck = step.chainKey;
  }
  return { ck, keys };
}

/** The former HKr (or its tag) joins the retired ones, newest first, at most SKIPPED_KEY_MAX_DH_STEPS. */
function retire(current: Uint8Array | null, retired: readonly Uint8Array[]): readonly Uint8Array[] {
  return current === null ? retired : [current, ...retired].slice(0, SKIPPED_KEY_MAX_DH_STEPS);
}

/** Zeroes derived secrets that will not be committed (the body did not authenticate). */
function discard(crypto: Crypto, keys: readonly SkippedKey[], ...others: Uint8Array[]): void {
  for (const k of keys) crypto.zero(k.mk);
  for (const o of others) crypto.zero(o);
}

/** A message whose key was skipped earlier (TrySkippedMessageKeysHE): use it, then delete it. */
export function receiveSkipped(crypto: Crypto, s: RatchetState, hk: Uint8Array, h: Header, m: ParsedMessage): Received {
  const found = findSkipped(crypto, s.skipped, hk, h.n);
  if (found === null) throw new DecryptError('Duplicate', 'ratchet: message already received');
  const plaintext = openMessage(crypto, s.ad, m, found.mk, false);
  return { plaintext, next: s.with({ skipped: removeSkipped(s.skipped, found.chain, found.key), received: true }) };
}

/** A header under HKr: the current receiving chain (SkipMessageKeysHE up to N, then KDF_CK). */
export function receiveCurrentChain(crypto: Crypto, s: RatchetState, h: Header, m: ParsedMessage, now: number): Received {
  const hkr = s.hkr!;
  if (!crypto.equal(h.dh, s.dhr!)) throw new DecryptError('BadMessage', 'ratchet: ratchet key does not match its chain');
  if (h.n < s.nr) return receiveSkipped(crypto, s, hkr, h, m);
  checkCounter(h.n);
  checkSkip(s.nr, h.n);
  const chain = skipKeys(crypto, s.ckr!, s.nr, h.n, now);
  const step = kdfCk(crypto, chain.ck); // CKr′, MK = KDF_CK(CKr)
  if (h.n > s.nr) crypto.zero(chain.ck);
  let plaintext: Uint8Array;
  try {
    plaintext = openMessage(crypto, s.ad, m, step.messageKey, true);
  } catch (e) {
    discard(crypto, chain.keys, step.chainKey);
    throw e;
  }
  const skipped = addSkipped(crypto, s.skipped, hkr, s.dhStep, chain.keys);
  return { plaintext, next: s.with({ ckr: step.chainKey, nr: h.n + 1, skipped, received: true }) };
}

/** A header under NHKr: skip the current chain up to PN, DH ratchet step (DHRatchetHE), then receive N. */
export function receiveNewChain(crypto: Crypto, s: RatchetState, h: Header, m: ParsedMessage, now: number): Received {
  checkCounter(h.n);
  checkSkip(s.nr, h.pn);
  checkSkip(0, h.n);
  if (s.dhStep >= 0xffff_ffff) throw new DecryptError('SessionExhausted', 'ratchet: DH step counter exhausted');
  let skipped = s.skipped;
  let oldKeys: SkippedKey[] = [];
  if (s.ckr !== null && s.hkr !== null && h.pn > s.nr) {
    const old = skipKeys(crypto, s.ckr, s.nr, h.pn, now);
    crypto.zero(old.ck);
    oldKeys = old.keys;
    skipped = addSkipped(crypto, skipped, s.hkr, s.dhStep, oldKeys);
  }
  // PN = Ns; Ns = Nr = 0; HKs = NHKs; HKr = NHKr; DHr = header.dh
  // RK, CKr, NHKr = KDF_RK(RK, DH(DHs, DHr)); DHs = GENERATE_DH(); RK, CKs, NHKs = KDF_RK(RK, DH(DHs, DHr))
  let dh1: Uint8Array;
  try {
    dh1 = dh(crypto, s.dhs.privateKey, h.dh);
  } catch (e) {
    discard(crypto, oldKeys);
    throw e;
  }
  const recv = kdfRk(crypto, s.rk, dh1);
  crypto.zero(dh1);
  const dhs = crypto.x25519KeyPair();
  let newKeys: SkippedKey[] = [];
  const derived: Uint8Array[] = [];
  let committed = false;
  try {
    const dh2 = dh(crypto, dhs.privateKey, h.dh);
    const send = kdfRk(crypto, recv.rootKey, dh2);
    derived.push(send.rootKey, send.chainKey, send.nextHeaderKey);
    crypto.zero(dh2);
    crypto.zero(recv.rootKey);
    const dhStep = s.dhStep + 1;
    const chain = skipKeys(crypto, recv.chainKey, 0, h.n, now);
    newKeys = chain.keys;
    const step = kdfCk(crypto, chain.ck); // CKr′, MK = KDF_CK(CKr)
    derived.push(step.chainKey);
    crypto.zero(chain.ck);
    crypto.zero(recv.chainKey);
    const plaintext = openMessage(crypto, s.ad, m, step.messageKey, true);
    skipped = expireSkipped(addSkipped(crypto, skipped, s.nhkr, dhStep, chain.keys), dhStep, now);
    // The tags of the two header keys that are new in their role: HKs (was NHKs) and NHKr (fresh).
    const hksTag = headerKeyTag(crypto, s.nhks);
    const nhkrTag = headerKeyTag(crypto, recv.nextHeaderKey);
    committed = true;
    return {
      plaintext,
      next: s.with({
        dhs,
        dhr: h.dh,
        rk: send.rootKey,
        cks: send.chainKey,
        ckr: step.chainKey,
        ns: 0,
        nr: h.n + 1,
        pn: s.ns,
        hks: s.nhks,
        hkr: s.nhkr,
        nhks: send.nextHeaderKey,
        nhkr: recv.nextHeaderKey,
        hksTag,
        hkrTag: s.nhkrTag,
        nhkrTag,
        dhStep,
        received: true,
        retiredHeaderKeys: retire(s.hkr, s.retiredHeaderKeys),
        retiredHeaderTags: retire(s.hkrTag, s.retiredHeaderTags),
        skipped,
      }),
    };
  } finally {
    if (!committed) discard(crypto, [...oldKeys, ...newKeys], dhs.privateKey, recv.chainKey, recv.nextHeaderKey, ...derived);
  }
}
