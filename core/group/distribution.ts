/**
 * Sender-key distribution: what a member needs to read one sender's messages under one key, from one
 * step of its chain on. Sent by that sender only, inside the pairwise session with that member
 * (content.ts kinds 4 and 6), so it is authenticated by the session and readable by that member alone.
 *
 *   format u8 (= 1) ‖ group id (16) ‖ key id u32 ‖ iteration u32 ‖ chain key CK_iteration (32)
 *   ‖ signing public key (32, Ed25519) ‖ copy secret CS_M (32) ‖ firstSeq u64 (≥ 1)
 *   ‖ membershipVersion u64 (≥ 1)                                                  = 137 bytes
 *
 * The chain key is the one of `iteration`: the member derives that message's key and every later
 * one, never an earlier one (a joiner cannot read history). CS_M is this member's copy secret
 * (group-kdf.ts): its wrap key and routing tag, known to the sender and this member only. firstSeq is
 * the senderSeq of the first message under this distribution (where a new member's receipts start);
 * membershipVersion the version the sender had applied (a member behind it holds the distribution).
 */
import { DecodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { GROUP_ID_BYTES, MAX_CHAIN_COUNTER } from '../limits.ts';

const DISTRIBUTION_FORMAT = 1;
const KEY_BYTES = 32;
export const DISTRIBUTION_BYTES = 1 + GROUP_ID_BYTES + 4 + 4 + KEY_BYTES * 3 + 8 + 8;

export interface SenderKeyDistribution {
  readonly groupId: Uint8Array;
  readonly keyId: number;
  readonly iteration: number;
  /** CK at `iteration` (secret) */
  readonly chainKey: Uint8Array;
  readonly signingKey: Uint8Array;
  /** CS_M of the member this distribution is for (secret) */
  readonly copySecret: Uint8Array;
  readonly firstSeq: number;
  readonly membershipVersion: number;
}

export function encodeDistribution(d: SenderKeyDistribution): Uint8Array {
  if (d.groupId.length !== GROUP_ID_BYTES || d.chainKey.length !== KEY_BYTES || d.signingKey.length !== KEY_BYTES || d.copySecret.length !== KEY_BYTES) {
    throw new DecodeError('distribution: bad field length');
  }
  if (d.iteration >= MAX_CHAIN_COUNTER || d.firstSeq < 1 || d.membershipVersion < 1) throw new DecodeError('distribution: field out of range');
  return new Writer()
    .u8(DISTRIBUTION_FORMAT)
    .fixed(d.groupId)
    .u32(d.keyId)
    .u32(d.iteration)
    .fixed(d.chainKey)
    .fixed(d.signingKey)
    .fixed(d.copySecret)
    .u64(d.firstSeq)
    .u64(d.membershipVersion)
    .finish();
}

/** Parses a distribution from a reader positioned on it (it is fixed-length inside contents). */
export function readDistribution(r: Reader): SenderKeyDistribution {
  if (r.u8() !== DISTRIBUTION_FORMAT) throw new DecodeError('distribution: unsupported format', 'UnsupportedVersion');
  const groupId = r.fixed(GROUP_ID_BYTES);
  const keyId = r.u32();
  const iteration = r.u32();
  const chainKey = r.fixed(KEY_BYTES);
  const signingKey = r.fixed(KEY_BYTES);
  const copySecret = r.fixed(KEY_BYTES);
  const firstSeq = r.u64();
  const membershipVersion = r.u64();
  if (iteration >= MAX_CHAIN_COUNTER || firstSeq < 1 || membershipVersion < 1) throw new DecodeError('distribution: field out of range');
  return { groupId, keyId, iteration, chainKey, signingKey, copySecret, firstSeq, membershipVersion };
}

export function decodeDistribution(bytes: Uint8Array): SenderKeyDistribution {
  const r = new Reader(bytes, 'distribution');
  const d = readDistribution(r);
  r.end();
  return d;
}
