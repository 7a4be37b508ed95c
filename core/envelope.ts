/**
 * The sealed envelope: the only bytes the relay carries between daemons.
 *
 * Session kind (every message once the session has been answered):
 *   version u8 ‖ 0x01 ‖ routing tag (16) ‖ ratchet message
 *   routing tag = HMAC(HKs, "ratchetd-v1/route")[0..16], HKs = the header key the ratchet message's
 *   header is encrypted under. The receiver keeps an index of the tags of every receiving header key
 *   of every session (routingTags), so one lookup finds the peer and session, whatever the number of
 *   contacts. The relay learns only which envelopes share a sending chain (it changes on every reply).
 *
 * Handshake kind (the initiator's messages until the first reply decrypts):
 *   version u8 ‖ 0x02 ‖ EK_A (32, raw X25519) ‖ sealed sender (94) ‖ ratchet message
 *   sealed sender = nonce (24, random) ‖ XChaCha20-Poly1305(seal key, nonce, sender (54), aad)
 *     seal key = HKDF(0^32, X25519(EK_A, IK_B), "ratchetd-v1/seal", 32)       (x3dh.ts)
 *     aad      = version ‖ EK_A ‖ Enc(IK_B)
 *     sender   = Enc(IK_A) (33) ‖ signed prekey id u32 ‖ has one-time prekey u8 (0/1)
 *                ‖ one-time prekey id u32 (0 if none) ‖ bundle version u32 ‖ session epoch u64
 *   The block is made once per session and attached unchanged to each handshake message; it is fixed
 *   length, so the relay learns neither the sender nor whether a one-time prekey was used. An
 *   envelope sealed to another identity fails to open (WrongRecipient). The block proves nothing about
 *   IK_A by itself: the sender is authenticated when the ratchet message decrypts under X3DH (DH1).
 *
 * PQ handshake kind (PQXDH, pqxdh.ts: the initiator's messages until the first reply decrypts):
 *   version u8 ‖ 0x04 ‖ EK_A (32) ‖ sealed sender (98) ‖ KEM ciphertext (1088) ‖ ratchet message
 *   sealed sender as above, with sender = the 54 bytes above ‖ PQ prekey id u32, and
 *     aad = version ‖ 0x04 ‖ EK_A ‖ Enc(IK_B)
 *   The PQ prekey id is sealed like the other prekey ids, so the relay does not learn whether a
 *   one-time or the last-resort PQ prekey was used. The ciphertext is not covered by the seal: a
 *   tampered one is caught by the ratchet message's AEAD (the PQXDH AD binds it), before any change.
 *   A first message is 1,092 bytes longer than an X3DH one (ciphertext 1,088, PQ prekey id 4); the largest PQ
 *   handshake envelope (262144-byte bucket) stays below the broker's default 300 KiB payload limit.
 *
 * Group copy kind (one member's copy of a group message, core/group/copy.ts):
 *   version u8 ‖ 0x03 ‖ routing tag (16) ‖ nonce (24, random)
 *   ‖ XChaCha20-Poly1305(WK, nonce, group message, aad = version ‖ 0x03 ‖ tag)
 *   WK and tag are this member's copy keys under the sender's current key (core/group/group-kdf.ts).
 *   Every copy of one message is wrapped anew, so no two copies share bytes; the relay learns only
 *   which copies in one inbox come from the same sender key (as it does for a session's chain).
 *   decodeEnvelope does not accept this kind yet (the engine does not handle it: it would be refused
 *   as an unknown kind, as an older decoder refuses it); decodeGroupEnvelope parses it.
 *
 * File chunk kind (core/file/chunk-envelope.ts):
 *   version u8 ‖ 0x05 ‖ chunk routing tag (16) ‖ secretstream-sealed chunk (65553)
 *   One fixed length; each chunk's tag is its own (derived from the file's key), so chunks link
 *   neither to each other nor to their sender. decodeEnvelope does not accept it: the engine routes
 *   chunk envelopes (isChunkEnvelope) to the file receiver before decoding session envelopes.
 *
 * Member file chunk kind (core/file/member-chunk.ts), a file to a group:
 *   version u8 ‖ 0x06 ‖ member routing tag (16) ‖ XChaCha20-Poly1305(member wrap key, sealed chunk)
 *   One fixed length (16 bytes more than 0x05); the file is sealed once and each member's chunks
 *   are wrapped under that member's key, so no two inboxes see the same bytes. Routed like 0x05.
 *
 * No kind carries counters in clear (the ratchet header is encrypted) or the true length (the
 * ratchet pads bodies to size buckets).
 */
import type { Crypto } from './crypto.ts';
import { DecodeError, HandshakeError } from './errors.ts';
import { Reader, Writer, concat } from './bytes.ts';
import { MAX_BODY_BYTES, PROTOCOL_VERSION, ROUTING_TAG_BYTES } from './limits.ts';
import {
  ENCODED_KEY_BYTES,
  RAW_KEY_BYTES,
  checkX25519PublicKey,
  decodeEd25519PublicKey,
  dh,
  encodeEd25519PublicKey,
  identityDhPrivate,
  identityDhPublic,
  type Ed25519PublicKey,
  type X25519PublicKey,
} from './keys.ts';
import type { LocalIdentity } from './identity.ts';
import { deriveSealKey } from './x3dh.ts';
import { KEM_CIPHERTEXT_BYTES } from './prekeys.ts';
import { headerKeyTag } from './kdf.ts';
import { deriveUserId, type UserId } from './user-id.ts';
import { MAX_GROUP_MESSAGE_BYTES, MIN_GROUP_MESSAGE_BYTES } from './group/message.ts';

export const ENVELOPE_KIND_SESSION = 0x01;
export const ENVELOPE_KIND_HANDSHAKE = 0x02;
export const ENVELOPE_KIND_GROUP = 0x03;
export const ENVELOPE_KIND_PQ_HANDSHAKE = 0x04;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const SENDER_PLAINTEXT_BYTES = ENCODED_KEY_BYTES + 4 + 1 + 4 + 4 + 8;
export const SEALED_SENDER_BYTES = NONCE_BYTES + SENDER_PLAINTEXT_BYTES + TAG_BYTES;
const PQ_SENDER_PLAINTEXT_BYTES = SENDER_PLAINTEXT_BYTES + 4;
export const PQ_SEALED_SENDER_BYTES = NONCE_BYTES + PQ_SENDER_PLAINTEXT_BYTES + TAG_BYTES;
/** Lower bound of a ratchet message: two random nonces and two AEAD tags (the exact format is ratchet.ts's). */
const MIN_RATCHET_MESSAGE_BYTES = 2 * (NONCE_BYTES + TAG_BYTES);
/** Upper bound: the largest body bucket plus generous room for the encrypted header. */
const MAX_RATCHET_MESSAGE_BYTES = MAX_BODY_BYTES + 64 + 1024;
/** Epochs above this are refused (year 10889): leaves room for +1 in a safe integer. */
export const MAX_EPOCH = 2 ** 48;

export interface SessionEnvelope {
  readonly kind: 'session';
  readonly tag: Uint8Array;
  readonly message: Uint8Array;
}

export interface HandshakeEnvelope {
  readonly kind: 'handshake';
  /** EK_A */
  readonly ephemeralKey: X25519PublicKey;
  readonly sealed: Uint8Array;
  readonly message: Uint8Array;
  /** PQXDH (kind 0x04): the ML-KEM-768 ciphertext; absent or null for X3DH (kind 0x02). */
  readonly kemCiphertext?: Uint8Array | null;
}

export type Envelope = SessionEnvelope | HandshakeEnvelope;

/** One member's copy of a group message (not part of Envelope until the engine handles it). */
export interface GroupEnvelope {
  readonly kind: 'group';
  readonly tag: Uint8Array;
  readonly nonce: Uint8Array;
  /** AEAD(WK, nonce, group message, groupEnvelopeAad(tag)) */
  readonly sealed: Uint8Array;
}

const MIN_GROUP_SEALED_BYTES = MIN_GROUP_MESSAGE_BYTES + TAG_BYTES;
const MAX_GROUP_SEALED_BYTES = MAX_GROUP_MESSAGE_BYTES + TAG_BYTES;
/** Largest group copy envelope (a 262144-byte bucket): 262315 bytes, inside the broker's default 300 KiB. */
export const MAX_GROUP_ENVELOPE_BYTES = 2 + ROUTING_TAG_BYTES + NONCE_BYTES + MAX_GROUP_SEALED_BYTES;

/** What the sealed-sender block says (a claim until the ratchet message decrypts). */
export interface SealedSender {
  /** IK_A, raw Ed25519 */
  readonly identityKey: Uint8Array;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId: number | null;
  readonly bundleVersion: number;
  /** Session epoch chosen by the initiator (session ranking, session.ts). */
  readonly epoch: number;
  /** The PQ prekey of a PQXDH handshake; absent or null for X3DH. */
  readonly pqPrekeyId?: number | null;
}

export interface UnsealedSender extends SealedSender {
  readonly identityKey: Ed25519PublicKey;
  readonly userId: UserId;
}

/**
 * tag = HMAC(HK, "ratchetd-v1/route")[0..16] (kdf.ts headerKeyTag). The ratchet state keeps the tag of
 * each of its header keys (ratchetEncrypt returns the sending one; receivingRoutingTags the others).
 */
export function routingTag(crypto: Crypto, headerKey: Uint8Array): Uint8Array {
  return headerKeyTag(crypto, headerKey);
}

export function encodeEnvelope(env: Envelope): Uint8Array {
  const w = new Writer().u8(PROTOCOL_VERSION);
  if (env.kind === 'session') {
    if (env.tag.length !== ROUTING_TAG_BYTES) throw new DecodeError('envelope: bad routing tag length');
    return w.u8(ENVELOPE_KIND_SESSION).fixed(env.tag).fixed(env.message).finish();
  }
  checkX25519PublicKey(env.ephemeralKey);
  const ct = env.kemCiphertext ?? null;
  if (ct !== null) {
    if (env.sealed.length !== PQ_SEALED_SENDER_BYTES) throw new DecodeError('envelope: bad sealed sender length');
    if (ct.length !== KEM_CIPHERTEXT_BYTES) throw new DecodeError('envelope: bad KEM ciphertext length');
    return w.u8(ENVELOPE_KIND_PQ_HANDSHAKE).fixed(env.ephemeralKey).fixed(env.sealed).fixed(ct).fixed(env.message).finish();
  }
  if (env.sealed.length !== SEALED_SENDER_BYTES) throw new DecodeError('envelope: bad sealed sender length');
  return w.u8(ENVELOPE_KIND_HANDSHAKE).fixed(env.ephemeralKey).fixed(env.sealed).fixed(env.message).finish();
}

/** Parses an envelope; DecodeError (code DecodeError, UnsupportedVersion or InvalidKey) on anything malformed. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const r = new Reader(bytes, 'envelope');
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new DecodeError('envelope: unsupported version', 'UnsupportedVersion');
  const kind = r.u8();
  let env: Envelope;
  if (kind === ENVELOPE_KIND_SESSION) {
    const tag = r.fixed(ROUTING_TAG_BYTES);
    env = { kind: 'session', tag, message: r.rest() };
  } else if (kind === ENVELOPE_KIND_HANDSHAKE) {
    const ephemeralKey = checkX25519PublicKey(r.fixed(RAW_KEY_BYTES));
    const sealed = r.fixed(SEALED_SENDER_BYTES);
    env = { kind: 'handshake', ephemeralKey, sealed, message: r.rest() };
  } else if (kind === ENVELOPE_KIND_PQ_HANDSHAKE) {
    const ephemeralKey = checkX25519PublicKey(r.fixed(RAW_KEY_BYTES));
    const sealed = r.fixed(PQ_SEALED_SENDER_BYTES);
    const kemCiphertext = r.fixed(KEM_CIPHERTEXT_BYTES);
    env = { kind: 'handshake', ephemeralKey, sealed, kemCiphertext, message: r.rest() };
  } else {
    throw new DecodeError('envelope: unknown kind');
  }
  if (env.message.length < MIN_RATCHET_MESSAGE_BYTES) throw new DecodeError('envelope: message too short');
  if (env.message.length > MAX_RATCHET_MESSAGE_BYTES) throw new DecodeError('envelope: message too long');
  return env;
}

/** The AAD of a group copy: version ‖ 0x03 ‖ tag. */
export function groupEnvelopeAad(tag: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(PROTOCOL_VERSION, ENVELOPE_KIND_GROUP), tag);
}

export function encodeGroupEnvelope(env: GroupEnvelope): Uint8Array {
  if (env.tag.length !== ROUTING_TAG_BYTES || env.nonce.length !== NONCE_BYTES) throw new DecodeError('group envelope: bad tag or nonce length');
  if (env.sealed.length < MIN_GROUP_SEALED_BYTES || env.sealed.length > MAX_GROUP_SEALED_BYTES) throw new DecodeError('group envelope: bad length');
  return new Writer().u8(PROTOCOL_VERSION).u8(ENVELOPE_KIND_GROUP).fixed(env.tag).fixed(env.nonce).fixed(env.sealed).finish();
}

/** Parses a group copy; DecodeError (DecodeError or UnsupportedVersion) on anything else. */
export function decodeGroupEnvelope(bytes: Uint8Array): GroupEnvelope {
  const r = new Reader(bytes, 'group envelope');
  if (r.u8() !== PROTOCOL_VERSION) throw new DecodeError('group envelope: unsupported version', 'UnsupportedVersion');
  if (r.u8() !== ENVELOPE_KIND_GROUP) throw new DecodeError('group envelope: not a group copy');
  const tag = r.fixed(ROUTING_TAG_BYTES);
  const nonce = r.fixed(NONCE_BYTES);
  const sealed = r.rest();
  if (sealed.length < MIN_GROUP_SEALED_BYTES || sealed.length > MAX_GROUP_SEALED_BYTES) throw new DecodeError('group envelope: bad length');
  return { kind: 'group', tag, nonce, sealed };
}

function sealAad(ephemeralKey: Uint8Array, recipientIdentityKey: Uint8Array, pq: boolean): Uint8Array {
  const prefix = pq ? Uint8Array.of(PROTOCOL_VERSION, ENVELOPE_KIND_PQ_HANDSHAKE) : Uint8Array.of(PROTOCOL_VERSION);
  return concat(prefix, ephemeralKey, encodeEd25519PublicKey(recipientIdentityKey));
}

/** Makes the sealed-sender block with the seal key from X3DH (x3dhInitiate's sealKey). */
export function sealSender(
  crypto: Crypto,
  sealKey: Uint8Array,
  ephemeralKey: Uint8Array,
  recipientIdentityKey: Uint8Array,
  sender: SealedSender,
): Uint8Array {
  if (!Number.isSafeInteger(sender.epoch) || sender.epoch < 0 || sender.epoch > MAX_EPOCH) {
    throw new RangeError('sealSender: epoch out of range');
  }
  const pqPrekeyId = sender.pqPrekeyId ?? null;
  const w = new Writer()
    .fixed(encodeEd25519PublicKey(sender.identityKey))
    .u32(sender.signedPrekeyId)
    .bool(sender.oneTimePrekeyId !== null)
    .u32(sender.oneTimePrekeyId ?? 0)
    .u32(sender.bundleVersion)
    .u64(sender.epoch);
  if (pqPrekeyId !== null) w.u32(pqPrekeyId);
  const plaintext = w.finish();
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const ciphertext = crypto.aeadEncrypt(sealKey, nonce, plaintext, sealAad(ephemeralKey, recipientIdentityKey, pqPrekeyId !== null));
  return concat(nonce, ciphertext);
}

function parseSender(plaintext: Uint8Array, pq: boolean): SealedSender & { identityKey: Ed25519PublicKey } {
  const r = new Reader(plaintext, 'sealed sender');
  const identityKey = decodeEd25519PublicKey(r.fixed(ENCODED_KEY_BYTES));
  const signedPrekeyId = r.u32();
  const hasOneTimePrekey = r.bool();
  const opkId = r.u32();
  const bundleVersion = r.u32();
  const epoch = r.u64();
  const pqPrekeyId = pq ? r.u32() : null;
  r.end();
  if (!hasOneTimePrekey && opkId !== 0) throw new DecodeError('sealed sender: one-time prekey id without flag');
  if (epoch > MAX_EPOCH) throw new DecodeError('sealed sender: epoch out of range');
  return { identityKey, signedPrekeyId, oneTimePrekeyId: hasOneTimePrekey ? opkId : null, bundleVersion, epoch, pqPrekeyId };
}

/**
 * Opens the sealed-sender block of a handshake envelope addressed to `own`. WrongRecipient when the
 * block was not sealed to this identity (or was tampered with); DecodeError/InvalidKey when malformed.
 */
export function unsealSender(crypto: Crypto, own: LocalIdentity, env: HandshakeEnvelope): UnsealedSender {
  const ikB = identityDhPrivate(crypto, own.keyPair.privateKey);
  let dh2: Uint8Array;
  try {
    dh2 = dh(crypto, ikB, env.ephemeralKey); // X25519(IK_B, EK_A) = DH2
  } finally {
    crypto.zero(ikB);
  }
  const key = deriveSealKey(crypto, dh2);
  crypto.zero(dh2);
  const pq = (env.kemCiphertext ?? null) !== null;
  if (env.sealed.length !== (pq ? PQ_SEALED_SENDER_BYTES : SEALED_SENDER_BYTES)) {
    crypto.zero(key);
    throw new DecodeError('sealed sender: wrong length');
  }
  const plaintext = crypto.aeadDecrypt(
    key,
    env.sealed.subarray(0, NONCE_BYTES),
    env.sealed.subarray(NONCE_BYTES),
    sealAad(env.ephemeralKey, own.keyPair.publicKey, pq),
  );
  crypto.zero(key);
  if (plaintext === null) throw new HandshakeError('WrongRecipient', 'handshake: not sealed to this identity');
  const sender = parseSender(plaintext, pq);
  identityDhPublic(crypto, sender.identityKey); // IK_A must be usable for DH1
  return { ...sender, userId: deriveUserId(crypto, sender.identityKey) };
}
