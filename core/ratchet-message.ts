/**
 * Layout and encryption of one ratchet message (format documented at the top of ratchet.ts):
 *   encHeader (ENCRYPTED_HEADER_BYTES) ‖ bodyNonce (24) ‖ XChaCha20-Poly1305(K, bodyNonce, pad(p), AAD)
 * with K = messageAeadKey(MK) and AAD = lp(AD) ‖ lp(encHeader).
 */
import type { Crypto } from './crypto.ts';
import { DecodeError, DecryptError } from './errors.ts';
import { ENCRYPTED_HEADER_BYTES, NONCE_BYTES, TAG_BYTES, encryptHeaderInto, type Header } from './header.ts';
import { messageAeadKey } from './kdf.ts';
import { isBodyBucket, pad, unpad } from './padding.ts';

export const BODY_OFFSET = ENCRYPTED_HEADER_BYTES + NONCE_BYTES;

export interface ParsedMessage {
  readonly encHeader: Uint8Array;
  readonly nonce: Uint8Array;
  readonly body: Uint8Array;
}

/** Splits a message; DecodeError unless its length is header + nonce + a body bucket + tag. */
export function parseMessage(message: Uint8Array): ParsedMessage {
  if (message.length < BODY_OFFSET + TAG_BYTES || !isBodyBucket(message.length - BODY_OFFSET - TAG_BYTES)) {
    throw new DecodeError('ratchet message: bad length');
  }
  return {
    encHeader: message.subarray(0, ENCRYPTED_HEADER_BYTES),
    nonce: message.subarray(ENCRYPTED_HEADER_BYTES, BODY_OFFSET),
    body: message.subarray(BODY_OFFSET),
  };
}

/** lp(AD) ‖ lp(encHeader), in one allocation. */
export function bodyAad(ad: Uint8Array, encHeader: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + ad.length + encHeader.length);
  out[0] = ad.length >>> 8;
  out[1] = ad.length & 0xff;
  out.set(ad, 2);
  const o = 2 + ad.length;
  out[o] = encHeader.length >>> 8;
  out[o + 1] = encHeader.length & 0xff;
  out.set(encHeader, o + 2);
  return out;
}

/**
 * The whole message: HENCRYPT(HK, header) with the first nonce, then ENCRYPT(K, pad(plaintext), AAD)
 * with the second, written into one buffer. Zeroes MK, K and the padded copy.
 */
export function sealMessage(
  crypto: Crypto,
  ad: Uint8Array,
  hk: Uint8Array,
  header: Header,
  nonces: Uint8Array,
  mk: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const padded = pad(plaintext);
  const message = new Uint8Array(BODY_OFFSET + padded.length + TAG_BYTES);
  encryptHeaderInto(crypto, hk, nonces.subarray(0, NONCE_BYTES), header, message);
  const bodyNonce = nonces.subarray(NONCE_BYTES, 2 * NONCE_BYTES);
  message.set(bodyNonce, ENCRYPTED_HEADER_BYTES);
  const key = messageAeadKey(crypto, mk);
  crypto.zero(mk);
  const body = crypto.aeadEncrypt(key, bodyNonce, padded, bodyAad(ad, message.subarray(0, ENCRYPTED_HEADER_BYTES)));
  crypto.zero(key);
  crypto.zero(padded);
  message.set(body, BODY_OFFSET);
  return message;
}

/**
 * DECRYPT(MK, body, AAD): the unpadded plaintext, or DecryptError 'BadMessage'. Zeroes K, and MK
 * when `ownsMk` (a freshly derived key; a skipped key belongs to the previous state and is left alone).
 */
export function openMessage(crypto: Crypto, ad: Uint8Array, m: ParsedMessage, mk: Uint8Array, ownsMk: boolean): Uint8Array {
  const key = messageAeadKey(crypto, mk);
  if (ownsMk) crypto.zero(mk);
  const padded = crypto.aeadDecrypt(key, m.nonce, m.body, bodyAad(ad, m.encHeader));
  crypto.zero(key);
  if (padded === null) throw new DecryptError('BadMessage', 'ratchet: message does not authenticate');
  try {
    return unpad(padded).slice();
  } catch (cause) {
    throw new DecryptError('BadMessage', 'ratchet: bad body padding', { cause });
  } finally {
    crypto.zero(padded);
  }
}
