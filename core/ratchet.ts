/**
 * Double Ratchet with header encryption (Signal DR rev. 1 §3, §4).
 * Pure: every function takes the state and returns a new one; a throw leaves nothing changed.
 *
 * Message (what ratchetEncrypt returns and ratchetDecrypt takes; the envelope wraps it):
 *
 *   encHeader (88) ‖ bodyNonce (24) ‖ body ciphertext (bucket + 16)
 *
 *   encHeader  = headerNonce (24, random) ‖ XChaCha20-Poly1305(HKs, headerNonce, header(48), aad = ∅)
 *   header     = version u8 ‖ DHs (32) ‖ PN u32 BE ‖ N u32 BE ‖ 0x00 × 7           (see header.ts)
 *   body       = XChaCha20-Poly1305(K, bodyNonce, pad(plaintext), AAD)
 *   K          = HKDF(0^32, MK, "ratchetd-v1/DR-MK", 32),  (CKs′, MK) = KDF_CK(CKs)  (see kdf.ts)
 *   AAD        = lp(AD) ‖ lp(encHeader)          (lp = u16 BE length prefix; AD from X3DH)
 *   pad(p)     = p ‖ 0x80 ‖ 0x00… up to the smallest of BODY_SIZE_BUCKETS > |p|  (see padding.ts)
 *
 * Both nonces come from one crypto.randomBytes(48) call (header nonce first). The relay sees only
 * the length bucket. A 256-byte bucket gives a 384-byte message.
 *
 * Receiving tries header keys in this order (bounded: at most 2 + SKIPPED_KEY_MAX_DH_STEPS trials):
 * HKr (current chain: in order, skip ahead, or a skipped key), NHKr (a DH ratchet step), then the
 * retired HKr of recent chains (a skipped key, or else a Duplicate). MAX_SKIP is checked on N and PN
 * before anything is derived; all work happens on locals and is committed only after the body's tag
 * verifies. State encoding: see ratchet-codec.ts.
 *
 * Limits and choices beyond DR rev. 1 (deliberate):
 * - Skipped keys: at most MAX_SKIPPED_KEYS_PER_SESSION (oldest evicted); a key skipped while the
 *   receiving DH step counter was s is deleted when it reaches s + 5, or 30 days after it was skipped.
 * - Duplicate means "this message's key is gone": already used, or evicted/expired. Either way the
 *   right action is to drop it silently. To tell it apart from garbage for late copies, the former HKr
 *   of the last 5 chains are kept (so old headers stay readable to a thief of the state for 5 steps;
 *   message bodies keep full forward secrecy). receivingHeaderKeys returns them, so copies still route.
 * - A header under HKr must carry DHr as its ratchet key (else BadMessage).
 * - Counters: Ns stops at MAX_CHAIN_COUNTER (SessionExhausted on encrypt); a received N ≥ it is
 *   SessionExhausted. Received ratchet keys with the top bit set are InvalidKey; low-order ones
 *   (crypto.x25519 throws) are BadMessage.
 */
import type { Crypto, KeyPair } from './crypto.ts';
import { DecodeError, DecryptError, RatchetError } from './errors.ts';
import { MAX_CHAIN_COUNTER } from './limits.ts';
import { headerKeyTag, kdfCk, kdfRk } from './kdf.ts';
import { NONCE_BYTES, decryptHeader } from './header.ts';
import { checkX25519PublicKey } from './keys.ts';
import { RatchetState } from './ratchet-state.ts';
import { parseMessage, sealMessage, type ParsedMessage } from './ratchet-message.ts';
import { receiveCurrentChain, receiveNewChain, receiveSkipped, type Received } from './ratchet-receive.ts';
import { EMPTY_STORE, expireSkipped, skippedKeyCount } from './skipped-keys.ts';

export { RatchetState } from './ratchet-state.ts';
export { encodeRatchetState, decodeRatchetState } from './ratchet-codec.ts';

export interface RatchetInit {
  /** SK from X3DH (32) */
  readonly sharedSecret: Uint8Array;
  /** HKa (32): the initiator's first sending header key */
  readonly sharedHeaderKeyA: Uint8Array;
  /** NHKb (32): the responder's first next sending header key */
  readonly sharedNextHeaderKeyB: Uint8Array;
  /** AD from X3DH, at most 65535 bytes */
  readonly associatedData: Uint8Array;
}

const KEY = 32;

function checkInit(init: RatchetInit): void {
  for (const k of [init.sharedSecret, init.sharedHeaderKeyA, init.sharedNextHeaderKeyB]) {
    if (k.length !== KEY) throw new DecodeError('ratchet init: secret of wrong length', 'InvalidKey');
  }
  if (init.associatedData.length > 0xffff) throw new DecodeError('ratchet init: AD too long');
}

/** DR §4.4 RatchetInitAliceHE: DHr = SPK_B; RK, CKs, NHKs = KDF_RK(SK, DH(DHs, DHr)); HKs = HKa; NHKr = NHKb. */
export function initInitiator(crypto: Crypto, init: RatchetInit, responderSignedPrekey: Uint8Array, _now: number): RatchetState {
  checkInit(init);
  checkX25519PublicKey(responderSignedPrekey);
  const dhs = crypto.x25519KeyPair();
  let shared: Uint8Array;
  try {
    shared = crypto.x25519(dhs.privateKey, responderSignedPrekey);
  } catch {
    throw new DecodeError('ratchet init: invalid signed prekey', 'InvalidKey');
  }
  const root = kdfRk(crypto, init.sharedSecret, shared);
  crypto.zero(shared);
  const hks = init.sharedHeaderKeyA.slice();
  const nhkr = init.sharedNextHeaderKeyB.slice();
  return new RatchetState({
    dhs,
    dhr: responderSignedPrekey.slice(),
    rk: root.rootKey,
    cks: root.chainKey,
    ckr: null,
    ns: 0,
    nr: 0,
    pn: 0,
    hks,
    hkr: null,
    nhks: root.nextHeaderKey,
    nhkr,
    hksTag: headerKeyTag(crypto, hks),
    hkrTag: null,
    nhkrTag: headerKeyTag(crypto, nhkr),
    dhStep: 0,
    received: false,
    retiredHeaderKeys: [],
    retiredHeaderTags: [],
    skipped: EMPTY_STORE,
    ad: init.associatedData.slice(),
  });
}

/** DR §4.4 RatchetInitBobHE: DHs = SPK_B pair; RK = SK; NHKs = NHKb; NHKr = HKa; no chains yet. */
export function initResponder(crypto: Crypto, init: RatchetInit, signedPrekeyPair: KeyPair, _now: number): RatchetState {
  checkInit(init);
  if (signedPrekeyPair.publicKey.length !== KEY || signedPrekeyPair.privateKey.length !== KEY) {
    throw new DecodeError('ratchet init: signed prekey pair of wrong length', 'InvalidKey');
  }
  const nhkr = init.sharedHeaderKeyA.slice();
  return new RatchetState({
    dhs: { publicKey: signedPrekeyPair.publicKey.slice(), privateKey: signedPrekeyPair.privateKey.slice() },
    dhr: null,
    rk: init.sharedSecret.slice(),
    cks: null,
    ckr: null,
    ns: 0,
    nr: 0,
    pn: 0,
    hks: null,
    hkr: null,
    nhks: init.sharedNextHeaderKeyB.slice(),
    nhkr,
    hksTag: null,
    hkrTag: null,
    nhkrTag: headerKeyTag(crypto, nhkr),
    dhStep: 0,
    received: false,
    retiredHeaderKeys: [],
    retiredHeaderTags: [],
    skipped: EMPTY_STORE,
    ad: init.associatedData.slice(),
  });
}

/**
 * DR §4.5 RatchetEncryptHE. `headerKey` is a copy of the HKs used; `routingTag` is tag(HKs), the
 * envelope's routing tag (kept in the state: no HMAC per message).
 * Throws RatchetError 'NoSession' (responder before its first message), 'SessionExhausted'
 * (Ns reached MAX_CHAIN_COUNTER) or 'MessageTooLarge'.
 */
export function ratchetEncrypt(
  crypto: Crypto,
  state: RatchetState,
  plaintext: Uint8Array,
  now: number,
): { message: Uint8Array; headerKey: Uint8Array; routingTag: Uint8Array; next: RatchetState } {
  const { cks, hks, hksTag } = state;
  if (cks === null || hks === null || hksTag === null) throw new RatchetError('NoSession', 'ratchet: cannot send before the first message is received');
  if (state.ns >= MAX_CHAIN_COUNTER) throw new RatchetError('SessionExhausted', 'ratchet: sending counter exhausted');
  const step = kdfCk(crypto, cks); // CKs′, MK = KDF_CK(CKs)
  const header = { dh: state.dhs.publicKey, pn: state.pn, n: state.ns }; // HEADER(DHs, PN, Ns)
  let message: Uint8Array;
  try {
    message = sealMessage(crypto, state.ad, hks, header, crypto.randomBytes(2 * NONCE_BYTES), step.messageKey, plaintext);
  } catch (e) {
    crypto.zero(step.messageKey);
    crypto.zero(step.chainKey);
    throw e;
  }
  const skipped = expireSkipped(state.skipped, state.dhStep, now);
  return { message, headerKey: hks.slice(), routingTag: hksTag.slice(), next: state.with({ cks: step.chainKey, ns: state.ns + 1, skipped }) };
}

/** Where a header key sits in the state: HKr ('current'), NHKr ('next'), or retiredHeaderKeys[index]. */
type HeaderKeySlot = 'current' | 'next' | number;

/** The header keys to try, in DR order: HKr, NHKr, then the retired HKr of recent chains. */
function headerKeySlots(s: RatchetState): HeaderKeySlot[] {
  const slots: HeaderKeySlot[] = s.hkr === null ? ['next'] : ['current', 'next'];
  for (let i = 0; i < s.retiredHeaderKeys.length; i++) slots.push(i);
  return slots;
}

function slotKey(s: RatchetState, slot: HeaderKeySlot): Uint8Array {
  return slot === 'current' ? s.hkr! : slot === 'next' ? s.nhkr : s.retiredHeaderKeys[slot]!;
}

function slotTag(s: RatchetState, slot: HeaderKeySlot): Uint8Array {
  return slot === 'current' ? s.hkrTag! : slot === 'next' ? s.nhkrTag : s.retiredHeaderTags[slot]!;
}

/** HDECRYPT under one header key and, if it opens, the matching branch of RatchetDecryptHE; null if not. */
function tryHeaderKey(crypto: Crypto, s: RatchetState, slot: HeaderKeySlot, m: ParsedMessage, now: number): Received | null {
  const hk = slotKey(s, slot);
  const h = decryptHeader(crypto, hk, m.encHeader);
  if (h === null) return null;
  if (slot === 'current') return receiveCurrentChain(crypto, s, h, m, now);
  if (slot === 'next') return receiveNewChain(crypto, s, h, m, now);
  return receiveSkipped(crypto, s, hk, h, m);
}

/**
 * DR §4.5 RatchetDecryptHE on a copy. Throws DecryptError 'BadMessage' | 'Duplicate' | 'TooFarAhead' |
 * 'SessionExhausted', or DecodeError (bad length; an authentic header with an unknown version gives
 * 'UnsupportedVersion', with a malformed ratchet key 'InvalidKey'). On a throw nothing changed.
 * `routingTag` (the envelope's, when there is one) names the header key to try first, so the usual
 * message costs one header decryption instead of a failed trial per key before it; every other key
 * is still tried after it, in DR order, each at most once (a wrong tag changes only the order).
 */
export function ratchetDecrypt(
  crypto: Crypto,
  state: RatchetState,
  message: Uint8Array,
  now: number,
  routingTag?: Uint8Array,
): { plaintext: Uint8Array; next: RatchetState } {
  const m = parseMessage(message);
  const skipped = expireSkipped(state.skipped, state.dhStep, now);
  const s = skipped === state.skipped ? state : state.with({ skipped });
  let slots = headerKeySlots(s);
  if (routingTag !== undefined) {
    const named = slots.find((slot) => crypto.equal(slotTag(s, slot), routingTag));
    if (named !== undefined) slots = [named, ...slots.filter((slot) => slot !== named)];
  }
  for (const slot of slots) {
    const received = tryHeaderKey(crypto, s, slot, m, now);
    if (received !== null) return received;
  }
  throw new DecryptError('BadMessage', 'ratchet: no header key opens this message');
}

/** Every header key a received header may be under: HKr, NHKr, then the retired HKr of recent chains (copies). */
export function receivingHeaderKeys(state: RatchetState): Uint8Array[] {
  return headerKeySlots(state).map((slot) => slotKey(state, slot).slice());
}

/** tag(HK) of every receiving header key, in receivingHeaderKeys' order (copies; stored, no HMAC). */
export function receivingRoutingTags(state: RatchetState): Uint8Array[] {
  return headerKeySlots(state).map((slot) => slotTag(state, slot).slice());
}

/**
 * The same tags as receivingRoutingTags, without copying: the state's own arrays, READ ONLY. They are
 * shared by the states derived from this one while its header keys stay the same, so a caller can
 * memoise work per array (the engine's routing index does).
 */
export function receivingRoutingTagViews(state: RatchetState): readonly Uint8Array[] {
  return headerKeySlots(state).map((slot) => slotTag(state, slot));
}

/** Whether a routing tag names one of this state's receiving header keys (no copies, no HMAC). */
export function hasReceivingRoutingTag(crypto: Crypto, state: RatchetState, tag: Uint8Array): boolean {
  return headerKeySlots(state).some((slot) => crypto.equal(slotTag(state, slot), tag));
}

/** Whether any message has been decrypted under this state. */
export function hasReceived(state: RatchetState): boolean {
  return state.received;
}

/** Whether this state can send now (false for a responder before its first message, or when Ns is exhausted). */
export function canSend(state: RatchetState): boolean {
  return state.cks !== null && state.ns < MAX_CHAIN_COUNTER;
}

/** Number of skipped message keys kept. */
export function skippedKeyTotal(state: RatchetState): number {
  return skippedKeyCount(state.skipped);
}

/** The state without expired skipped keys (same object when none expired); e.g. for a daily sweep. */
export function expireSkippedKeys(state: RatchetState, now: number): RatchetState {
  const skipped = expireSkipped(state.skipped, state.dhStep, now);
  return skipped === state.skipped ? state : state.with({ skipped });
}
