/**
 * Double Ratchet key derivation (DR §5.2 recommended functions, HE variant).
 *
 *   KDF_RK(RK, dh)  = HKDF(salt = RK, ikm = dh, "ratchetd-v1/DR-RK", 96) → RK′ ‖ CK ‖ NHK
 *   KDF_CK(CK)      : CK′ = HMAC(CK, 0x02), MK = HMAC(CK, 0x01)   (libsignal's chain key constants)
 *   K               = HKDF(0^32, MK, "ratchetd-v1/DR-MK", 32)      (the XChaCha20-Poly1305 key of one message)
 *   tag(HK)         = HMAC(HK, "ratchetd-v1/route")[0..16]          (the envelope's routing tag, envelope.ts)
 *
 * The labels are frozen: golden vectors in ./vectors pin every output.
 */
import type { Crypto } from './crypto.ts';
import { utf8 } from './bytes.ts';
import { ROUTING_TAG_BYTES } from './limits.ts';

export const KDF_RK_INFO = utf8.encode('ratchetd-v1/DR-RK');
export const MESSAGE_KEY_INFO = utf8.encode('ratchetd-v1/DR-MK');
export const ROUTE_LABEL = utf8.encode('ratchetd-v1/route');
export const KEY_BYTES = 32;

const MESSAGE_KEY_CONSTANT = Uint8Array.of(0x01);
const CHAIN_KEY_CONSTANT = Uint8Array.of(0x02);
const ZERO_SALT = new Uint8Array(KEY_BYTES);

export interface RootStep {
  /** RK′ */
  readonly rootKey: Uint8Array;
  /** CKs or CKr of the new chain */
  readonly chainKey: Uint8Array;
  /** NHKs or NHKr: the header key of the chain after the next one */
  readonly nextHeaderKey: Uint8Array;
}

export interface ChainStep {
  /** CK′ */
  readonly chainKey: Uint8Array;
  /** MK (secret: zero it once used) */
  readonly messageKey: Uint8Array;
}

/** KDF_RK (DR §4.2 KDF_RK_HE): RK′, CK, NHK from the root key and a DH output. */
export function kdfRk(crypto: Crypto, rk: Uint8Array, dhOut: Uint8Array): RootStep {
  const okm = crypto.hkdf(rk, dhOut, KDF_RK_INFO, 3 * KEY_BYTES);
  // Three independent views of one fresh buffer; zeroing one never touches the others.
  return {
    rootKey: okm.subarray(0, KEY_BYTES),
    chainKey: okm.subarray(KEY_BYTES, 2 * KEY_BYTES),
    nextHeaderKey: okm.subarray(2 * KEY_BYTES, 3 * KEY_BYTES),
  };
}

/** KDF_CK (DR §5.2): next chain key and this step's message key. */
export function kdfCk(crypto: Crypto, ck: Uint8Array): ChainStep {
  return {
    chainKey: crypto.hmac(ck, CHAIN_KEY_CONSTANT),
    messageKey: crypto.hmac(ck, MESSAGE_KEY_CONSTANT),
  };
}

/** K = HKDF(0^32, MK, "ratchetd-v1/DR-MK", 32): the AEAD key of one message. */
export function messageAeadKey(crypto: Crypto, mk: Uint8Array): Uint8Array {
  return crypto.hkdf(ZERO_SALT, mk, MESSAGE_KEY_INFO, KEY_BYTES);
}

/**
 * tag(HK) = HMAC(HK, "ratchetd-v1/route")[0..16]: the routing tag of envelopes whose header is under
 * HK (envelope.ts). Public; the ratchet state stores it beside each header key it keeps, so it is
 * computed once per header key, not once per message.
 */
export function headerKeyTag(crypto: Crypto, hk: Uint8Array): Uint8Array {
  return crypto.hmac(hk, ROUTE_LABEL).slice(0, ROUTING_TAG_BYTES);
}
