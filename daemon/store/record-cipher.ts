/**
 * At-rest encryption of one record.
 *
 *   stored value = 0x01 ‖ nonce(24) ‖ XChaCha20-Poly1305(encKey, nonce, lp(logical key) ‖ value, AAD)
 *   AAD          = "ratchetd-v1/store" ‖ 0x01 ‖ lp(kind prefix) ‖ lp(physical key)
 *
 * A random nonce per write; the AAD binds a record to its kind and key, so records cannot be swapped
 * or moved. The logical key travels inside the ciphertext so blinded kinds can be iterated.
 * Keys: encKey = HKDF(0^32, storeKey, "ratchetd-v1/store/encrypt", 32),
 *       blindKey = HKDF(0^32, storeKey, "ratchetd-v1/store/blind", 32).
 */
import type { Crypto } from '../../core/crypto.ts';
import { concat, lp, Reader, toHex, utf8 } from '../../core/bytes.ts';
import { KEY_SEPARATOR, RECORD_KINDS, type RecordKind } from './kinds.ts';
import { CorruptRecordError } from './store.ts';

const RECORD_VERSION = 0x01;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const BLIND_BYTES = 20;
const AAD_LABEL = utf8.encode('ratchetd-v1/store');
const ENCRYPT_LABEL = utf8.encode('ratchetd-v1/store/encrypt');
const BLIND_LABEL = utf8.encode('ratchetd-v1/store/blind');
const ZERO_SALT = new Uint8Array(32);
const EMPTY = new Uint8Array(0);

/**
 * head ‖ lp(utf8(s)) ‖ `room` zero bytes, in one allocation (the caller fills the room). Keys are
 * short ASCII in practice; anything else takes the general encoder.
 */
function withLengthPrefixedString(head: Uint8Array, s: string, room: number): Uint8Array {
  let ascii = s.length <= 0xffff;
  for (let i = 0; ascii && i < s.length; i++) if (s.charCodeAt(i) > 0x7f) ascii = false;
  if (!ascii) return concat(head, lp(utf8.encode(s)), new Uint8Array(room));
  const out = new Uint8Array(head.length + 2 + s.length + room);
  out.set(head, 0);
  out[head.length] = s.length >>> 8;
  out[head.length + 1] = s.length & 0xff;
  for (let i = 0, o = head.length + 2; i < s.length; i++, o++) out[o] = s.charCodeAt(i);
  return out;
}

export interface RecordCipher {
  physicalKey(kind: RecordKind, key: string): string;
  seal(kind: RecordKind, physicalKey: string, key: string, value: Uint8Array): Uint8Array;
  /** Returns the logical key and value; CorruptRecordError if authentication or decoding fails. */
  open(kind: RecordKind, physicalKey: string, stored: Uint8Array): { key: string; value: Uint8Array };
  /** Zeroes the derived keys. */
  destroy(): void;
}

/** Blinded physical keys remembered (they are on disk anyway; computing one costs an HMAC). */
const PHYSICAL_KEY_MEMO_SIZE = 4096;

/** Derives the record keys from the 32-byte store key; the caller zeroes storeKey. */
export function createRecordCipher(crypto: Crypto, storeKey: Uint8Array): RecordCipher {
  if (storeKey.length !== 32) throw new RangeError('store key must be 32 bytes');
  const encKey = crypto.hkdf(ZERO_SALT, storeKey, ENCRYPT_LABEL, 32);
  const blindKey = crypto.hkdf(ZERO_SALT, storeKey, BLIND_LABEL, 32);

  // AAD = label ‖ version ‖ lp(prefix) ‖ lp(physical key): the part before lp(physical key) is fixed per kind.
  const aadHeads = new Map<RecordKind, Uint8Array>();
  const aad = (kind: RecordKind, physicalKey: string): Uint8Array => {
    let head = aadHeads.get(kind);
    if (head === undefined) {
      head = concat(AAD_LABEL, Uint8Array.of(RECORD_VERSION), lp(utf8.encode(RECORD_KINDS[kind].prefix)));
      aadHeads.set(kind, head);
    }
    return withLengthPrefixedString(head, physicalKey, 0);
  };

  /** kind ‖ NUL ‖ logical key → physical key, for blinded kinds; oldest entry dropped when full. */
  const blinded = new Map<string, string>();
  const blind = (kind: RecordKind, key: string): string => {
    const memoKey = kind + '\0' + key;
    const known = blinded.get(memoKey);
    if (known !== undefined) return known;
    const prefix = RECORD_KINDS[kind].prefix;
    const mac = crypto.hmac(blindKey, concat(utf8.encode(prefix), Uint8Array.of(0), utf8.encode(key)));
    const physical = prefix + KEY_SEPARATOR + toHex(mac.subarray(0, BLIND_BYTES));
    if (blinded.size >= PHYSICAL_KEY_MEMO_SIZE) blinded.delete(blinded.keys().next().value!);
    blinded.set(memoKey, physical);
    return physical;
  };

  return {
    physicalKey(kind, key) {
      const spec = RECORD_KINDS[kind];
      return spec.blinded ? blind(kind, key) : spec.prefix + KEY_SEPARATOR + key;
    },
    seal(kind, physicalKey, key, value) {
      const nonce = crypto.randomBytes(NONCE_BYTES);
      const plaintext = withLengthPrefixedString(EMPTY, key, value.length);
      plaintext.set(value, plaintext.length - value.length);
      const sealed = crypto.aeadEncrypt(encKey, nonce, plaintext, aad(kind, physicalKey));
      crypto.zero(plaintext);
      const out = new Uint8Array(1 + NONCE_BYTES + sealed.length);
      out[0] = RECORD_VERSION;
      out.set(nonce, 1);
      out.set(sealed, 1 + NONCE_BYTES);
      return out;
    },
    open(kind, physicalKey, stored) {
      if (stored.length < 1 + NONCE_BYTES + TAG_BYTES + 2) throw new CorruptRecordError(kind, 'too short');
      if (stored[0] !== RECORD_VERSION) throw new CorruptRecordError(kind, 'unknown record version');
      const nonce = stored.subarray(1, 1 + NONCE_BYTES);
      const plaintext = crypto.aeadDecrypt(encKey, nonce, stored.subarray(1 + NONCE_BYTES), aad(kind, physicalKey));
      if (plaintext === null) throw new CorruptRecordError(kind, 'authentication failed');
      try {
        const r = new Reader(plaintext, 'store record');
        const key = r.string16();
        const value = r.rest();
        return { key, value };
      } catch (cause) {
        throw new CorruptRecordError(kind, 'undecodable', { cause });
      } finally {
        crypto.zero(plaintext);
      }
    },
    destroy() {
      crypto.zero(encKey);
      crypto.zero(blindKey);
    },
  };
}
