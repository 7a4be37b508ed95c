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

/** The envelope of one member's copy. */
export function wrapCopy(crypto: Crypto, keys: CopyKeys, groupMessage: Uint8Array): Uint8Array {
  const nonce = crypto.randomBytes(GROUP_NONCE_BYTES);
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
