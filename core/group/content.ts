/**
 * The pairwise contents of groups: what travels inside a member-to-member Double Ratchet session
 * (content.ts's header: version ‖ kind ‖ message id ‖ seq ‖ prevHash ‖ sentAt, then):
 *
 *   4 group message (sequenced)     group id (16) ‖ mode u8
 *        mode 1 sealed:  has distribution u8 ‖ [distribution (137)] ‖ group message (u32 len ‖ bytes)
 *                        the first message a member gets under a sender key, bundled with that key
 *        mode 2 resent:  group plaintext (u32 len ‖ bytes): a message its sender re-sends to one
 *                        member that lacks it (recovery; authenticated by the session)
 *   5 membership (sequenced)        membership version (u32 len ‖ bytes): owner → members, also to
 *                                   the members a version removes
 *   6 sender key (sequenced)        distribution (137): a key without a message (an answer to a key
 *                                   request, or when the bundled message would not fit one message)
 *   7 key request (unsequenced)     group id (16) ‖ membershipVersion u64 ‖ has key id u8 ‖ key id u32
 *                                   ‖ haveUpToSeq u64: "I lack your key (or am stuck on it); I have
 *                                   all your messages up to haveUpToSeq, my membership version is …"
 *   8 group receipt (unsequenced)   group id (16) ‖ upToSeq u64: cumulative, per group and sender
 *                                   (addressed to that sender): every message of yours up to upToSeq
 *   9 leave (sequenced)             group id (16) ‖ membershipVersion u64: member → owner
 *
 * Sequenced contents take part in the pairwise transcript (seq ≥ 1, prevHash; kept in the outbox
 * until the peer's receipt), the others are outside it (seq 0, zero prevHash), as receipts and resets.
 * Every accepted encoding is canonical; an encoding is at most MAX_BODY_BYTES (one pairwise message).
 */
import type { Crypto } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { Reader, type Writer } from '../bytes.ts';
import { CONTENT_HEADER_BYTES, CONTENT_KIND, MESSAGE_ID_BYTES, ZERO_HASH, readContentHeader, writeContentHeader, type ContentMeta } from '../content.ts';
import { GROUP_ID_BYTES, MAX_BODY_BYTES } from '../limits.ts';
import { GroupError } from './errors.ts';
import { DISTRIBUTION_BYTES, encodeDistribution, readDistribution, type SenderKeyDistribution } from './distribution.ts';
import { MAX_MEMBERSHIP_BYTES, decodeMembership } from './membership.ts';
import { MAX_GROUP_MESSAGE_BYTES, parseGroupMessage } from './message.ts';
import { MAX_GROUP_PLAINTEXT_BYTES, decodeGroupPlaintext, encodeGroupPlaintext, type GroupPlaintext } from './plaintext.ts';

const MODE_SEALED = 1;
const MODE_RESENT = 2;

export type GroupContentInput =
  | { readonly kind: 'group-message'; readonly groupId: Uint8Array; readonly mode: 'sealed'; readonly distribution: SenderKeyDistribution | null; readonly message: Uint8Array }
  | { readonly kind: 'group-message'; readonly groupId: Uint8Array; readonly mode: 'resent'; readonly plaintext: GroupPlaintext }
  | { readonly kind: 'group-membership'; readonly membership: Uint8Array }
  | { readonly kind: 'group-sender-key'; readonly distribution: SenderKeyDistribution }
  | { readonly kind: 'group-key-request'; readonly groupId: Uint8Array; readonly membershipVersion: number; readonly keyId: number | null; readonly haveUpToSeq: number }
  | { readonly kind: 'group-receipt'; readonly groupId: Uint8Array; readonly upToSeq: number }
  | { readonly kind: 'group-leave'; readonly groupId: Uint8Array; readonly membershipVersion: number };

export type GroupContent = GroupContentInput & ContentMeta;
export type GroupContentKind = GroupContentInput['kind'];

const KIND_NUMBER: Record<GroupContentKind, number> = {
  'group-message': CONTENT_KIND.groupMessage,
  'group-membership': CONTENT_KIND.groupMembership,
  'group-sender-key': CONTENT_KIND.groupSenderKey,
  'group-key-request': CONTENT_KIND.groupKeyRequest,
  'group-receipt': CONTENT_KIND.groupReceipt,
  'group-leave': CONTENT_KIND.groupLeave,
};

/** Whether contents of this kind take part in the pairwise transcript (seq ≥ 1, outboxed until receipted). */
export function isSequencedGroupKind(kind: GroupContentKind): boolean {
  return kind !== 'group-key-request' && kind !== 'group-receipt';
}

/** Size of a sealed group-message content: whether a group message and its key fit one pairwise message. */
export function sealedContentBytes(groupMessageLength: number, withDistribution: boolean): number {
  return CONTENT_HEADER_BYTES + GROUP_ID_BYTES + 1 + 1 + (withDistribution ? DISTRIBUTION_BYTES : 0) + 4 + groupMessageLength;
}

/** Completes an input with its id, sequence number, previous hash and time (seq 0 for unsequenced kinds). */
export function sealGroupContent(crypto: Crypto, input: GroupContentInput, seq: number, prevHash: Uint8Array, sentAt: number): GroupContent {
  const sequenced = isSequencedGroupKind(input.kind);
  if (sequenced && seq < 1) throw new RangeError('group content: a sequenced kind needs seq ≥ 1');
  const meta: ContentMeta = { messageId: crypto.randomBytes(MESSAGE_ID_BYTES), seq: sequenced ? seq : 0, prevHash: sequenced ? prevHash : ZERO_HASH, sentAt };
  const c = { ...input, ...meta } as GroupContent;
  encodeGroupContent(c); // refuses what cannot be encoded, before anything is stored
  return c;
}

function writeBody(w: Writer, c: GroupContent): void {
  switch (c.kind) {
    case 'group-message':
      w.fixed(c.groupId);
      if (c.mode === 'sealed') {
        w.u8(MODE_SEALED).bool(c.distribution !== null);
        if (c.distribution !== null) {
          if (!equalBytes(c.distribution.groupId, c.groupId)) throw new DecodeError('group content: distribution of another group');
          w.fixed(encodeDistribution(c.distribution));
        }
        w.bytes32(c.message);
      } else {
        w.u8(MODE_RESENT).bytes32(encodeGroupPlaintext(c.plaintext));
      }
      return;
    case 'group-membership':
      w.bytes32(c.membership);
      return;
    case 'group-sender-key':
      w.fixed(encodeDistribution(c.distribution));
      return;
    case 'group-key-request':
      w.fixed(c.groupId).u64(c.membershipVersion).bool(c.keyId !== null).u32(c.keyId ?? 0).u64(c.haveUpToSeq);
      return;
    case 'group-receipt':
      w.fixed(c.groupId).u64(c.upToSeq);
      return;
    case 'group-leave':
      w.fixed(c.groupId).u64(c.membershipVersion);
      return;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function encodeGroupContent(c: GroupContent): Uint8Array {
  if ('groupId' in c && c.groupId.length !== GROUP_ID_BYTES) throw new DecodeError('group content: bad group id length');
  const w = writeContentHeader(KIND_NUMBER[c.kind], c);
  writeBody(w, c);
  const bytes = w.finish();
  if (bytes.length > MAX_BODY_BYTES) throw new GroupError('MessageTooLarge', 'group content: larger than one pairwise message');
  return bytes;
}

function readBody(r: Reader, kind: number): GroupContentInput {
  switch (kind) {
    case CONTENT_KIND.groupMessage: {
      const groupId = r.fixed(GROUP_ID_BYTES);
      const mode = r.u8();
      if (mode === MODE_SEALED) {
        const distribution = r.bool() ? readDistribution(r) : null;
        if (distribution !== null && !equalBytes(distribution.groupId, groupId)) throw new DecodeError('group content: distribution of another group');
        const message = r.bytes32(MAX_GROUP_MESSAGE_BYTES);
        parseGroupMessage(message);
        return { kind: 'group-message', groupId, mode: 'sealed', distribution, message };
      }
      if (mode === MODE_RESENT) return { kind: 'group-message', groupId, mode: 'resent', plaintext: decodeGroupPlaintext(r.bytes32(MAX_GROUP_PLAINTEXT_BYTES)) };
      throw new DecodeError('group content: unknown mode');
    }
    case CONTENT_KIND.groupMembership: {
      const membership = r.bytes32(MAX_MEMBERSHIP_BYTES);
      decodeMembership(membership);
      return { kind: 'group-membership', membership };
    }
    case CONTENT_KIND.groupSenderKey:
      return { kind: 'group-sender-key', distribution: readDistribution(r) };
    case CONTENT_KIND.groupKeyRequest: {
      const groupId = r.fixed(GROUP_ID_BYTES);
      const membershipVersion = r.u64();
      const hasKeyId = r.bool();
      const keyId = r.u32();
      const haveUpToSeq = r.u64();
      if (!hasKeyId && keyId !== 0) throw new DecodeError('group content: key id without flag');
      return { kind: 'group-key-request', groupId, membershipVersion, keyId: hasKeyId ? keyId : null, haveUpToSeq };
    }
    case CONTENT_KIND.groupReceipt:
      return { kind: 'group-receipt', groupId: r.fixed(GROUP_ID_BYTES), upToSeq: r.u64() };
    case CONTENT_KIND.groupLeave:
      return { kind: 'group-leave', groupId: r.fixed(GROUP_ID_BYTES), membershipVersion: r.u64() };
    default:
      throw new DecodeError('group content: not a group kind');
  }
}

/** Parses a group content; DecodeError (or UnsupportedVersion) on anything malformed or non-canonical. */
export function decodeGroupContent(bytes: Uint8Array): GroupContent {
  if (bytes.length > MAX_BODY_BYTES) throw new DecodeError('group content: too long');
  const r = new Reader(bytes, 'group content');
  const { kind, meta } = readContentHeader(r);
  const body = readBody(r, kind);
  r.end();
  const sequenced = isSequencedGroupKind(body.kind);
  if (sequenced && meta.seq < 1) throw new DecodeError('group content: sequenced kind without sequence number');
  if (!sequenced && (meta.seq !== 0 || meta.prevHash.some((b) => b !== 0))) throw new DecodeError('group content: unsequenced kind inside the sequence');
  return { ...body, ...meta } as GroupContent;
}

/** Whether these content bytes are a group kind (the engine's dispatch before decoding). */
export function isGroupContentKind(bytes: Uint8Array): boolean {
  const k = bytes[1];
  return bytes.length > 1 && k !== undefined && k >= CONTENT_KIND.groupMessage && k <= CONTENT_KIND.groupLeave;
}
