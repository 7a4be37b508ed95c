/**
 * Key derivation and hashes of groups. The labels are frozen: golden vectors (vectors/) pin every output.
 *
 *   chain step       (CK′, MK) = KDF_CK(CK): CK′ = HMAC(CK, 0x02), MK = HMAC(CK, 0x01)   (kdf.ts, as the DR)
 *   message key      K    = HKDF(0^32, MK, "ratchetd-v1/group-MK", 32)
 *   copy secret      CS_M = HMAC(copyRoot, "ratchetd-v1/group-copy" ‖ memberId (20))
 *   wrap key         WK   = HMAC(CS_M, "ratchetd-v1/group-wrap")
 *   routing tag      tag  = HMAC(CS_M, "ratchetd-v1/group-route")[0..16]
 *   group id         SHA-256("ratchetd-v1/group-id" ‖ owner Ed25519 key (32) ‖ nonce (16))[0..16]
 *   version hash     SHA-256("ratchetd-v1/group-version" ‖ signed part of a membership version)
 *
 * copyRoot is 32 random bytes of one sender key; CS_M goes to member M (only) in its distribution.
 * HMAC keyed with a uniformly random 32-byte key is HKDF-Expand of one block (RFC 5869 §2.3 with the
 * PRK given), so the copy derivations need no extract step; they are HMACs because the sender runs
 * them for every member of a group after each rotation.
 */
import type { Crypto } from '../crypto.ts';
import { concat, utf8 } from '../bytes.ts';
import { kdfCk, type ChainStep } from '../kdf.ts';
import { GROUP_ID_BYTES, ROUTING_TAG_BYTES } from '../limits.ts';

export const GROUP_MESSAGE_KEY_INFO = utf8.encode('ratchetd-v1/group-MK');
export const GROUP_COPY_LABEL = utf8.encode('ratchetd-v1/group-copy');
export const GROUP_WRAP_LABEL = utf8.encode('ratchetd-v1/group-wrap');
export const GROUP_ROUTE_LABEL = utf8.encode('ratchetd-v1/group-route');
export const GROUP_ID_LABEL = utf8.encode('ratchetd-v1/group-id');
export const GROUP_VERSION_LABEL = utf8.encode('ratchetd-v1/group-version');
export const KEY_BYTES = 32;
const ZERO_SALT = new Uint8Array(KEY_BYTES);

/** KDF_CK of a sender chain: the Double Ratchet's symmetric-key step, unchanged. */
export function groupChainStep(crypto: Crypto, ck: Uint8Array): ChainStep {
  return kdfCk(crypto, ck);
}

/** K = HKDF(0^32, MK, "ratchetd-v1/group-MK", 32): the AEAD key of one group message. */
export function groupMessageKey(crypto: Crypto, mk: Uint8Array): Uint8Array {
  return crypto.hkdf(ZERO_SALT, mk, GROUP_MESSAGE_KEY_INFO, KEY_BYTES);
}

/** CS_M = HMAC(copyRoot, "ratchetd-v1/group-copy" ‖ memberId): member M's copy secret under one sender key. */
export function copySecret(crypto: Crypto, copyRoot: Uint8Array, memberIdRaw: Uint8Array): Uint8Array {
  return crypto.hmac(copyRoot, concat(GROUP_COPY_LABEL, memberIdRaw));
}

export interface CopyKeys {
  /** WK: the XChaCha20-Poly1305 key copies to this member are wrapped under (secret). */
  readonly wrapKey: Uint8Array;
  /** The routing tag on those copies (public: the relay sees it). */
  readonly tag: Uint8Array;
}

/** WK and tag from a copy secret (both sides derive them once per sender key). */
export function copyKeys(crypto: Crypto, cs: Uint8Array): CopyKeys {
  return { wrapKey: crypto.hmac(cs, GROUP_WRAP_LABEL), tag: crypto.hmac(cs, GROUP_ROUTE_LABEL).slice(0, ROUTING_TAG_BYTES) };
}

/** The group id an owner key and nonce give: a group id names its owner, as a user id names its key. */
export function deriveGroupId(crypto: Crypto, ownerKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return crypto.sha256(concat(GROUP_ID_LABEL, ownerKey, nonce)).slice(0, GROUP_ID_BYTES);
}

/** The hash a membership version's successor carries (prevHash). */
export function versionHash(crypto: Crypto, signedPart: Uint8Array): Uint8Array {
  return crypto.sha256(concat(GROUP_VERSION_LABEL, signedPart));
}
