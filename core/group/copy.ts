/**
 * Travel: one ciphertext per message, one copy per member, each wrapped anew.
 *
 * A copy is the group message under one more XChaCha20-Poly1305 (a fresh random nonce, the member's
 * wrap key WK), framed as an envelope of kind 0x03 with the member's routing tag (envelope.ts). So:
 * - no two copies share bytes: the relay cannot link the copies of one message across inboxes by
 *   their content (only by time and size bucket, and on `ratchetd broker` by the authenticated
 *   publisher, as for every pairwise message);
 * - within one inbox, copies from the same sender key carry the same tag (what the relay learns of a
 *   pairwise session's sending chain too); the tag changes with every rotation;
 * - the receiver finds (group, sender, key) with one lookup of the tag; the wrap's tag check rejects
 *   anything the relay made or altered before the signature is checked;
 * - the group id, the sender, the key id, the iteration and the signature are all inside the wrap,
 *   and the length is the padding bucket.
 * Cost: one AEAD over the message per member (the message itself is encrypted and signed once).
 */
import type { Crypto } from '../crypto.ts';
import { decodeGroupEnvelope, encodeGroupEnvelope, groupEnvelopeAad, type GroupEnvelope } from '../envelope.ts';
import { GroupError } from './errors.ts';
import type { CopyKeys } from './group-kdf.ts';
import { GROUP_NONCE_BYTES } from './message.ts';

/** Copy keys with the envelope prefix (version ‖ 0x03 ‖ tag: also the AAD) made once per member. */
export interface WrapKeys extends CopyKeys {
  readonly prefix?: Uint8Array;
}

/**
 * The envelope of one member's copy (the layout of encodeGroupEnvelope, assembled in one buffer: this
 * runs once per member per message). `nonce`: 24 fresh random bytes, drawn here unless given (a
 * sender draws the nonces of all its copies at once).
 */
export function wrapCopy(crypto: Crypto, keys: WrapKeys, groupMessage: Uint8Array, nonce: Uint8Array = crypto.randomBytes(GROUP_NONCE_BYTES)): Uint8Array {
  if (nonce.length !== GROUP_NONCE_BYTES) throw new RangeError('wrapCopy: nonce must be 24 bytes');
  const prefix = keys.prefix ?? groupEnvelopeAad(keys.tag);
  const sealed = crypto.aeadEncrypt(keys.wrapKey, nonce, groupMessage, prefix);
  const out = new Uint8Array(prefix.length + nonce.length + sealed.length);
  out.set(prefix);
  out.set(nonce, prefix.length);
  out.set(sealed, prefix.length + nonce.length);
  return out;
}

/** The same envelope through the general encoder (tests check the two agree). */
export function wrapCopyByEncoder(crypto: Crypto, keys: CopyKeys, groupMessage: Uint8Array, nonce: Uint8Array): Uint8Array {
  const sealed = crypto.aeadEncrypt(keys.wrapKey, nonce, groupMessage, groupEnvelopeAad(keys.tag));
  return encodeGroupEnvelope({ kind: 'group', tag: keys.tag, nonce, sealed });
}

/** The group message inside a copy; BadMessage when it does not open under this wrap key. */
export function openCopy(crypto: Crypto, wrapKey: Uint8Array, env: GroupEnvelope): Uint8Array {
  const inner = crypto.aeadDecrypt(wrapKey, env.nonce, env.sealed, groupEnvelopeAad(env.tag));
  if (inner === null) throw new GroupError('BadMessage', 'group copy: does not open');
  return inner;
}

export { decodeGroupEnvelope };
