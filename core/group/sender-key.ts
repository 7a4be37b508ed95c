/**
 * This member's own sending state in one group (its "sender key"): a chain key stepped once per
 * message (KDF_CK, as the Double Ratchet's symmetric chain), an Ed25519 signing key pair, and the
 * copy root its members' copy secrets derive from (group-kdf.ts).
 *
 * Rotation: a new key (new chain, signing key, copy root and a random key id) replaces the current one
 * before the next message when
 *   - removal  the view has a removal after the key was made (view.lastRemovalVersion > the version
 *              the key was made under): the removed member knew the key, so nothing it could read
 *              may be sent under it again; each remaining sender rotates before its own next send
 *   - age      SENDER_KEY_MAX_AGE_MS since it was made
 *   - count    SENDER_KEY_MAX_MESSAGES messages under it
 *   - demand   rotateSenderKey, whenever the caller wants (e.g. after a member's session was reset)
 * Additions need no rotation: a joiner gets the chain from its current step (distribution.ts).
 *
 * Stored record (versioned): format u8 (= 1) ‖ group id (16) ‖ key id u32 ‖ iteration u32
 *   ‖ chain key (32) ‖ Ed25519 secret key (64) ‖ copy root (32) ‖ createdAt u64
 *   ‖ createdAtVersion u64 ‖ nextSeq u64
 * The engine must store the stepped key before any message under it leaves the process.
 */
import type { Crypto, KeyPair } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { redacted } from '../keys.ts';
import { GROUP_ID_BYTES, MAX_CHAIN_COUNTER, SENDER_KEY_MAX_AGE_MS, SENDER_KEY_MAX_MESSAGES } from '../limits.ts';
import type { UserId } from '../user-id.ts';
import { GroupError } from './errors.ts';
import { copyKeys, copySecret, groupChainStep, type CopyKeys } from './group-kdf.ts';
import { userIdBytes } from './ids.ts';
import { groupEnvelopeAad } from '../envelope.ts';
import type { SenderKeyDistribution } from './distribution.ts';
import type { GroupView } from './view.ts';

const SENDER_KEY_FORMAT = 1;
const KEY_BYTES = 32;
const SECRET_KEY_BYTES = 64;
export const OWN_SENDER_KEY_BYTES = 1 + GROUP_ID_BYTES + 4 + 4 + KEY_BYTES + SECRET_KEY_BYTES + KEY_BYTES + 8 + 8 + 8;

export interface OwnSenderKey {
  readonly groupId: Uint8Array;
  readonly keyId: number;
  /** the iteration of the next message */
  readonly iteration: number;
  /** CK at `iteration` (secret) */
  readonly chainKey: Uint8Array;
  /** Ed25519: publicKey 32, privateKey 64 (secret) */
  readonly signing: KeyPair;
  /** secret */
  readonly copyRoot: Uint8Array;
  readonly createdAt: number;
  /** the membership version applied when the key was made */
  readonly createdAtVersion: number;
  /** senderSeq of the next message (kept across rotations) */
  readonly nextSeq: number;
}

export type RotationReason = 'new' | 'removal' | 'age' | 'count';

function senderKey(k: OwnSenderKey): OwnSenderKey {
  return redacted({ ...k });
}

/** A fresh key. Randomness in this order: key id (4), chain key (32), signing seed (32), copy root (32). */
export function createSenderKey(crypto: Crypto, view: GroupView, now: number, previous: OwnSenderKey | null): OwnSenderKey {
  let keyId: number;
  do keyId = new DataView(crypto.randomBytes(4).buffer).getUint32(0);
  while (previous !== null && keyId === previous.keyId);
  const chainKey = crypto.randomBytes(KEY_BYTES);
  const seed = crypto.randomBytes(KEY_BYTES);
  const signing = crypto.ed25519KeyPairFromSeed(seed);
  crypto.zero(seed);
  const copyRoot = crypto.randomBytes(KEY_BYTES);
  return senderKey({
    groupId: view.groupId.slice(),
    keyId,
    iteration: 0,
    chainKey,
    signing: redacted({ publicKey: signing.publicKey, privateKey: signing.privateKey }),
    copyRoot,
    createdAt: now,
    createdAtVersion: view.version,
    nextSeq: previous?.nextSeq ?? 1,
  });
}

/** Why `key` must be replaced before the next message, or null. */
export function rotationReason(key: OwnSenderKey | null, view: GroupView, now: number): RotationReason | null {
  if (key === null) return 'new';
  if (key.createdAtVersion < view.lastRemovalVersion) return 'removal';
  if (now - key.createdAt >= SENDER_KEY_MAX_AGE_MS) return 'age';
  if (key.iteration >= SENDER_KEY_MAX_MESSAGES) return 'count';
  return null;
}

/** On demand: a new key now (the next message distributes it to every member). */
export function rotateSenderKey(crypto: Crypto, key: OwnSenderKey | null, view: GroupView, now: number): OwnSenderKey {
  return createSenderKey(crypto, view, now, key);
}

export interface SenderStep {
  readonly iteration: number;
  /** CK at `iteration`: what a distribution bundled with this message carries (secret) */
  readonly chainKey: Uint8Array;
  /** MK of this message (secret: zero it once the message is sealed) */
  readonly messageKey: Uint8Array;
  readonly next: OwnSenderKey;
}

/** One step of the sending chain; `next` has iteration + 1 and nextSeq + 1. */
export function stepSenderKey(crypto: Crypto, key: OwnSenderKey): SenderStep {
  if (key.iteration >= MAX_CHAIN_COUNTER - 1) throw new GroupError('SenderKeyExhausted', 'sender key: chain counter exhausted; rotate');
  const step = groupChainStep(crypto, key.chainKey);
  return {
    iteration: key.iteration,
    chainKey: key.chainKey,
    messageKey: step.messageKey,
    next: senderKey({ ...key, iteration: key.iteration + 1, chainKey: step.chainKey, nextSeq: key.nextSeq + 1 }),
  };
}

export interface MemberCopyKeys extends CopyKeys {
  /** CS_M (secret): goes to the member in its distribution */
  readonly copySecret: Uint8Array;
  /** version ‖ 0x03 ‖ tag: the start of every copy envelope to this member, and its AAD */
  readonly prefix: Uint8Array;
}

/**
 * Derived copy keys per copy root, computed once per member and process (a pure function of the root
 * and the member id: caching it changes no result). Keyed by the root's buffer, so they go away with
 * the states that hold it.
 */
const copyKeyMemo = new WeakMap<Uint8Array, Map<UserId, MemberCopyKeys>>();

/** CS_M, WK and tag of `member` under this key. */
export function memberCopyKeys(crypto: Crypto, key: OwnSenderKey, member: UserId): MemberCopyKeys {
  let memo = copyKeyMemo.get(key.copyRoot);
  if (memo === undefined) copyKeyMemo.set(key.copyRoot, (memo = new Map()));
  const known = memo.get(member);
  if (known !== undefined) return known;
  const cs = copySecret(crypto, key.copyRoot, userIdBytes(member));
  const keys = copyKeys(crypto, cs);
  const derived = redacted({ copySecret: cs, ...keys, prefix: groupEnvelopeAad(keys.tag) });
  memo.set(member, derived);
  return derived;
}

/** The distribution for `member` of the chain at `step` (the message it is bundled with). */
export function distributionFor(crypto: Crypto, key: OwnSenderKey, step: Pick<SenderStep, 'iteration' | 'chainKey'>, member: UserId, firstSeq: number, view: GroupView): SenderKeyDistribution {
  return {
    groupId: key.groupId,
    keyId: key.keyId,
    iteration: step.iteration,
    chainKey: step.chainKey,
    signingKey: key.signing.publicKey,
    copySecret: memberCopyKeys(crypto, key, member).copySecret,
    firstSeq,
    membershipVersion: view.version,
  };
}

export function encodeOwnSenderKey(k: OwnSenderKey): Uint8Array {
  return new Writer()
    .u8(SENDER_KEY_FORMAT)
    .fixed(k.groupId)
    .u32(k.keyId)
    .u32(k.iteration)
    .fixed(k.chainKey)
    .fixed(k.signing.privateKey)
    .fixed(k.copyRoot)
    .u64(k.createdAt)
    .u64(k.createdAtVersion)
    .u64(k.nextSeq)
    .finish();
}

/** Parses a stored sender key; DecodeError on anything malformed (also a signing key that does not match). */
export function decodeOwnSenderKey(crypto: Crypto, bytes: Uint8Array): OwnSenderKey {
  const r = new Reader(bytes, 'sender key');
  if (r.u8() !== SENDER_KEY_FORMAT) throw new DecodeError('sender key: unsupported format', 'UnsupportedVersion');
  const groupId = r.fixed(GROUP_ID_BYTES);
  const keyId = r.u32();
  const iteration = r.u32();
  const chainKey = r.fixed(KEY_BYTES);
  const privateKey = r.fixed(SECRET_KEY_BYTES);
  const copyRoot = r.fixed(KEY_BYTES);
  const createdAt = r.u64();
  const createdAtVersion = r.u64();
  const nextSeq = r.u64();
  r.end();
  if (iteration >= MAX_CHAIN_COUNTER || createdAtVersion < 1 || nextSeq < 1) throw new DecodeError('sender key: field out of range');
  const regenerated = crypto.ed25519KeyPairFromSeed(privateKey.subarray(0, 32));
  const consistent = crypto.equal(regenerated.publicKey, privateKey.subarray(32));
  crypto.zero(regenerated.privateKey);
  if (!consistent) throw new DecodeError('sender key: signing key pair inconsistent', 'InvalidKey');
  const signing = redacted({ publicKey: regenerated.publicKey, privateKey });
  return senderKey({ groupId, keyId, iteration, chainKey, signing, copyRoot, createdAt, createdAtVersion, nextSeq });
}
