/**
 * The Double Ratchet message header and its encryption (DR §4 header encryption).
 *
 * Plaintext header, exactly HEADER_PADDED_SIZE (48) bytes so that it does not leak anything by length:
 *   version u8 (= PROTOCOL_VERSION) ‖ DHs (X25519 public key, 32) ‖ PN u32 BE ‖ N u32 BE ‖ zeros (7)
 * Encrypted header, exactly ENCRYPTED_HEADER_BYTES (88):
 *   nonce (24, random) ‖ XChaCha20-Poly1305(HK, nonce, header, aad = empty) (48 + 16)
 */
import type { Crypto } from './crypto.ts';
import { DecodeError } from './errors.ts';
import { checkX25519PublicKey } from './keys.ts';
import { HEADER_PADDED_SIZE, PROTOCOL_VERSION } from './limits.ts';

export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const X25519_KEY_BYTES = 32;
/** version ‖ DHs ‖ PN ‖ N */
const HEADER_FIELDS_BYTES = 1 + X25519_KEY_BYTES + 4 + 4;
export const ENCRYPTED_HEADER_BYTES = NONCE_BYTES + HEADER_PADDED_SIZE + TAG_BYTES;
const EMPTY = new Uint8Array(0);

if (HEADER_PADDED_SIZE < HEADER_FIELDS_BYTES) throw new Error('HEADER_PADDED_SIZE too small for the header');

export interface Header {
  /** DHs: the sender's current ratchet public key */
  readonly dh: Uint8Array;
  /** PN: number of messages in the sender's previous sending chain */
  readonly pn: number;
  /** N: number of this message in the current sending chain */
  readonly n: number;
}

export function encodeHeader(h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_PADDED_SIZE);
  out[0] = PROTOCOL_VERSION;
  out.set(h.dh, 1);
  const view = new DataView(out.buffer);
  view.setUint32(1 + X25519_KEY_BYTES, h.pn);
  view.setUint32(1 + X25519_KEY_BYTES + 4, h.n);
  return out; // the remaining bytes are the zero padding
}

/** Parses a decrypted header: version first, exact length, zero padding, valid key. DecodeError only. */
export function decodeHeader(bytes: Uint8Array): Header {
  if (bytes.length !== HEADER_PADDED_SIZE) throw new DecodeError('header: wrong length');
  if (bytes[0] !== PROTOCOL_VERSION) throw new DecodeError('header: unsupported version', 'UnsupportedVersion');
  for (let i = HEADER_FIELDS_BYTES; i < HEADER_PADDED_SIZE; i++) {
    if (bytes[i] !== 0) throw new DecodeError('header: non-zero padding');
  }
  const dh = bytes.slice(1, 1 + X25519_KEY_BYTES);
  checkX25519PublicKey(dh);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { dh, pn: view.getUint32(1 + X25519_KEY_BYTES), n: view.getUint32(1 + X25519_KEY_BYTES + 4) };
}

/** HENCRYPT(HK, header) with the given 24-byte random nonce, written to out[0 .. ENCRYPTED_HEADER_BYTES). */
export function encryptHeaderInto(crypto: Crypto, hk: Uint8Array, nonce: Uint8Array, h: Header, out: Uint8Array): void {
  out.set(nonce, 0);
  out.set(crypto.aeadEncrypt(hk, nonce, encodeHeader(h), EMPTY), NONCE_BYTES);
}

/** HENCRYPT(HK, header) with the given 24-byte random nonce. */
export function encryptHeader(crypto: Crypto, hk: Uint8Array, nonce: Uint8Array, h: Header): Uint8Array {
  const out = new Uint8Array(ENCRYPTED_HEADER_BYTES);
  encryptHeaderInto(crypto, hk, nonce, h, out);
  return out;
}

/**
 * HDECRYPT(HK, encHeader): null when the header was not made under this key (the normal outcome of
 * trial decryption); DecodeError when it was but its content is malformed.
 */
export function decryptHeader(crypto: Crypto, hk: Uint8Array, encHeader: Uint8Array): Header | null {
  if (encHeader.length !== ENCRYPTED_HEADER_BYTES) throw new DecodeError('encrypted header: wrong length');
  const plain = crypto.aeadDecrypt(hk, encHeader.subarray(0, NONCE_BYTES), encHeader.subarray(NONCE_BYTES), EMPTY);
  return plain === null ? null : decodeHeader(plain);
}
