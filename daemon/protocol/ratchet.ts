/**
 * Double Ratchet with header encryption (Signal DR rev. 1 §3, §4; PROTOCOL.md 13–19, 26–27).
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
import { kdfCk, kdfRk } from './kdf.ts';
import { NONCE_BYTES, checkX25519PublicKey, decryptHeader } from './header.ts';
import { RatchetState } from './ratchet-state.ts';
import { parseMessage, sealMessage } from './ratchet-message.ts';
import { receiveCurrentChain, receiveNewChain, receiveSkipped } from './ratchet-receive.ts';
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
  /** AD from X3DH (PROTOCOL.md 9), at most 65535 bytes */
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
  return new RatchetState({
    dhs,
    dhr: responderSignedPrekey.slice(),
    rk: root.rootKey,
    cks: root.chainKey,
    ckr: null,
    ns: 0,
    nr: 0,
    pn: 0,
    hks: init.sharedHeaderKeyA.slice(),
    hkr: null,
    nhks: root.nextHeaderKey,
    nhkr: init.sharedNextHeaderKeyB.slice(),
    dhStep: 0,
    received: false,
    retiredHeaderKeys: [],
    skipped: EMPTY_STORE,
    ad: init.associatedData.slice(),
  });
}

/** DR §4.4 RatchetInitBobHE: DHs = SPK_B pair; RK = SK; NHKs = NHKb; NHKr = HKa; no chains yet. */
export function initResponder(_crypto: Crypto, init: RatchetInit, signedPrekeyPair: KeyPair, _now: number): RatchetState {
  checkInit(init);
  if (signedPrekeyPair.publicKey.length !== KEY || signedPrekeyPair.privateKey.length !== KEY) {
    throw new DecodeError('ratchet init: signed prekey pair of wrong length', 'InvalidKey');
  }
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
    nhkr: init.sharedHeaderKeyA.slice(),
    dhStep: 0,
    received: false,
    retiredHeaderKeys: [],
    skipped: EMPTY_STORE,
    ad: init.associatedData.slice(),
  });
}

/**
 * DR §4.5 RatchetEncryptHE. `headerKey` is a copy of the HKs used (for the envelope's routing tag).
 * Throws RatchetError 'NoSession' (responder before its first message), 'SessionExhausted'
 * (Ns reached MAX_CHAIN_COUNTER) or 'MessageTooLarge'.
 */
export function ratchetEncrypt(
  crypto: Crypto,
  state: RatchetState,
  plaintext: Uint8Array,
  now: number,
): { message: Uint8Array; headerKey: Uint8Array; next: RatchetState } {
  const { cks, hks } = state;
  if (cks === null || hks === null) throw new RatchetError('NoSession', 'ratchet: cannot send before the first message is received');
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
  return { message, headerKey: hks.slice(), next: state.with({ cks: step.chainKey, ns: state.ns + 1, skipped }) };
}

/**
 * DR §4.5 RatchetDecryptHE on a copy. Throws DecryptError 'BadMessage' | 'Duplicate' | 'TooFarAhead' |
 * 'SessionExhausted', or DecodeError (bad length; an authentic header with an unknown version gives
 * 'UnsupportedVersion', with a malformed ratchet key 'InvalidKey'). On a throw nothing changed.
 */
export function ratchetDecrypt(crypto: Crypto, state: RatchetState, message: Uint8Array, now: number): { plaintext: Uint8Array; next: RatchetState } {
  const m = parseMessage(message);
  const skipped = expireSkipped(state.skipped, state.dhStep, now);
  const s = skipped === state.skipped ? state : state.with({ skipped });
  if (s.hkr !== null) {
    const h = decryptHeader(crypto, s.hkr, m.encHeader);
    if (h !== null) return receiveCurrentChain(crypto, s, h, m, now);
  }
  const h = decryptHeader(crypto, s.nhkr, m.encHeader);
  if (h !== null) return receiveNewChain(crypto, s, h, m, now);
  for (const hk of s.retiredHeaderKeys) {
    const old = decryptHeader(crypto, hk, m.encHeader);
    if (old !== null) return receiveSkipped(crypto, s, hk, old, m);
  }
  throw new DecryptError('BadMessage', 'ratchet: no header key opens this message');
}

/** Every header key a received header may be under: HKr, NHKr, then the retired HKr of recent chains (copies). */
export function receivingHeaderKeys(state: RatchetState): Uint8Array[] {
  const keys = state.hkr === null ? [state.nhkr] : [state.hkr, state.nhkr];
  for (const hk of state.retiredHeaderKeys) keys.push(hk);
  return keys.map((k) => k.slice());
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
