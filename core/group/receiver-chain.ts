/**
 * A member's receiving state for one sender of one group: the sender's current chain and up to
 * MAX_RETIRED_SENDER_CHAINS former ones (copies under an old key may still be queued). Pure: every
 * function returns the next state and never mutates its input; on a throw nothing changed.
 *
 * Receiving a group message (decryptGroupMessage), in this order:
 *   1. the sender must be a member of the view (a removed sender's chains are deleted; NotGroupMember)
 *   2. the chain of its key id (UnknownSenderKey: hold it, ask the sender for its key)
 *   3. iteration below the chain's next: a skipped key, else Duplicate (used, or evicted/expired)
 *   4. the signature (BadSignature): checked before anything is derived or reported, so only the
 *      sender itself can make a member skip keys or ask for a key
 *   5. at most MAX_GROUP_SKIP keys skipped (TooFarAhead: hold it, ask the sender)
 *   6. derive, decrypt (BadMessage), decode; commit only then
 * Bounds: MAX_GROUP_SKIPPED_KEYS_PER_CHAIN skipped keys per chain (oldest evicted), each deleted after
 * GROUP_SKIPPED_KEY_MAX_AGE_MS; a retired chain deleted RETIRED_SENDER_CHAIN_MAX_AGE_MS after it was
 * retired.
 *
 * Stored record (versioned): format u8 (= 1) ‖ group id (16) ‖ sender id (20) ‖ count u8 (1 … 3)
 *   ‖ count × (key id u32 ‖ signing key (32) ‖ chain key (32) ‖ next u32 ‖ wrap key (32) ‖ tag (16)
 *              ‖ acceptedAt u64 ‖ retiredAt u64 (0 for the current chain, first)
 *              ‖ skipped count u16 ‖ × (iteration u32 ‖ MK (32) ‖ at u64), ascending iteration)
 */
import type { Crypto } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { Reader, Writer } from '../bytes.ts';
import { redacted } from '../keys.ts';
import {
  GROUP_ID_BYTES,
  GROUP_SKIPPED_KEY_MAX_AGE_MS,
  MAX_CHAIN_COUNTER,
  MAX_GROUP_SKIP,
  MAX_GROUP_SKIPPED_KEYS_PER_CHAIN,
  MAX_RETIRED_SENDER_CHAINS,
  RETIRED_SENDER_CHAIN_MAX_AGE_MS,
  ROUTING_TAG_BYTES,
} from '../limits.ts';
import { USER_ID_BYTES, type UserId } from '../user-id.ts';
import { GroupError } from './errors.ts';
import { copyKeys, groupChainStep } from './group-kdf.ts';
import { userIdBytes, userIdFromBytes } from './ids.ts';
import { openGroupMessage, parseGroupMessage, verifyGroupMessage } from './message.ts';
import { decodeGroupPlaintext, type GroupPlaintext } from './plaintext.ts';
import type { SenderKeyDistribution } from './distribution.ts';
import { sinceBoth, type GroupView } from './view.ts';

const CHAINS_FORMAT = 1;
const KEY_BYTES = 32;

export interface SkippedGroupKey {
  readonly iteration: number;
  /** MK (secret) */
  readonly mk: Uint8Array;
  readonly at: number;
}

export interface ReceiverChain {
  readonly keyId: number;
  readonly signingKey: Uint8Array;
  /** CK at `next` (secret) */
  readonly chainKey: Uint8Array;
  readonly next: number;
  /** ascending iteration, all below `next` */
  readonly skipped: readonly SkippedGroupKey[];
  /** WK of this sender's copies to this member under this key (secret) */
  readonly wrapKey: Uint8Array;
  /** their routing tag (public) */
  readonly tag: Uint8Array;
  readonly acceptedAt: number;
  /** 0 while current */
  readonly retiredAt: number;
}

export interface SenderChains {
  readonly groupId: Uint8Array;
  readonly sender: UserId;
  /** the current chain first, then retired ones, newest first; never empty */
  readonly chains: readonly ReceiverChain[];
}

export interface Accepted {
  readonly next: SenderChains;
  /** false when the distribution taught nothing new (a chain already at or past its step) */
  readonly changed: boolean;
}

function chains(c: SenderChains): SenderChains {
  return redacted(c);
}

function expireChain(c: ReceiverChain, now: number): ReceiverChain {
  const skipped = c.skipped.filter((k) => now - k.at <= GROUP_SKIPPED_KEY_MAX_AGE_MS);
  return skipped.length === c.skipped.length ? c : { ...c, skipped };
}

/** Drops retired chains and skipped keys past their age. */
export function expireSenderChains(s: SenderChains, now: number): SenderChains {
  const kept = s.chains.filter((c) => c.retiredAt === 0 || now - c.retiredAt <= RETIRED_SENDER_CHAIN_MAX_AGE_MS).map((c) => expireChain(c, now));
  const same = kept.length === s.chains.length && kept.every((c, i) => c === s.chains[i]);
  return same ? s : chains({ ...s, chains: kept });
}

/**
 * Takes a sender's distribution received pairwise from `from`. Checks: same group (WrongGroup); made
 * under a version this member has not applied yet (GroupVersionBehind: hold it until it has); this
 * member and the sender in the view (NotGroupMember); made under a version before either joined
 * (StaleGroupVersion: it was for an earlier membership, view.ts sinceBoth); a known key id with
 * another key (ConflictingSenderKey). A known key id at a later step moves the chain forward (an answer to a key
 * request); at an earlier step it changes nothing. A new key id becomes current; the former current
 * chain is retired.
 */
export function acceptDistribution(
  crypto: Crypto,
  view: GroupView,
  self: UserId,
  from: UserId,
  existing: SenderChains | null,
  d: SenderKeyDistribution,
  now: number,
): Accepted {
  if (!crypto.equal(d.groupId, view.groupId)) throw new GroupError('WrongGroup', 'distribution: another group');
  if (d.membershipVersion > view.version) throw new GroupError('GroupVersionBehind', 'distribution: made under a membership version not applied yet');
  const since = sinceBoth(view, self, from);
  if (since === undefined || from === self) throw new GroupError('NotGroupMember', 'distribution: not between members of this group');
  if (d.membershipVersion < since) throw new GroupError('StaleGroupVersion', 'distribution: made for an earlier membership of the sender or this member');
  if (existing !== null && (existing.sender !== from || !crypto.equal(existing.groupId, view.groupId))) {
    throw new GroupError('WrongGroup', 'distribution: chains of another sender or group');
  }
  const keys = copyKeys(crypto, d.copySecret);
  const base = existing === null ? [] : expireSenderChains(existing, now).chains;
  const at = base.findIndex((c) => c.keyId === d.keyId);
  if (at >= 0) {
    const c = base[at]!;
    if (!crypto.equal(c.signingKey, d.signingKey) || !crypto.equal(c.wrapKey, keys.wrapKey)) {
      throw new GroupError('ConflictingSenderKey', 'distribution: another key under a known key id');
    }
    if (d.iteration <= c.next) return { next: existing!, changed: false };
    const moved: ReceiverChain = { ...c, chainKey: d.chainKey.slice(), next: d.iteration };
    return { next: chains({ groupId: view.groupId, sender: from, chains: base.map((x, i) => (i === at ? moved : x)) }), changed: true };
  }
  const fresh: ReceiverChain = {
    keyId: d.keyId,
    signingKey: d.signingKey.slice(),
    chainKey: d.chainKey.slice(),
    next: d.iteration,
    skipped: [],
    wrapKey: keys.wrapKey,
    tag: keys.tag,
    acceptedAt: now,
    retiredAt: 0,
  };
  const retired = base.map((c) => (c.retiredAt === 0 ? { ...c, retiredAt: now } : c));
  return { next: chains({ groupId: view.groupId.slice(), sender: from, chains: [fresh, ...retired].slice(0, 1 + MAX_RETIRED_SENDER_CHAINS) }), changed: true };
}

export interface Decrypted {
  readonly plaintext: GroupPlaintext;
  readonly keyId: number;
  readonly iteration: number;
  readonly next: SenderChains;
}

/** Receives one group message of `s.sender` (see the order at the top). */
export function decryptGroupMessage(crypto: Crypto, view: GroupView, s: SenderChains, bytes: Uint8Array, now: number): Decrypted {
  if (!crypto.equal(s.groupId, view.groupId)) throw new GroupError('WrongGroup', 'group message: chains of another group');
  if (!view.memberSet.has(s.sender)) throw new GroupError('NotGroupMember', 'group message: the sender is not a member');
  const m = parseGroupMessage(bytes);
  const at = s.chains.findIndex((c) => c.keyId === m.keyId);
  if (at < 0) throw new GroupError('UnknownSenderKey', 'group message: no key of this sender under this key id');
  const c = s.chains[at]!;
  const skippedAt = m.iteration < c.next ? c.skipped.findIndex((k) => k.iteration === m.iteration) : -1;
  if (m.iteration < c.next && skippedAt < 0) throw new GroupError('Duplicate', 'group message: already received (or its key expired)');
  const sender = userIdBytes(s.sender);
  if (!verifyGroupMessage(crypto, m, s.groupId, sender, c.signingKey)) throw new GroupError('BadSignature', 'group message: signature does not verify');
  if (m.iteration - c.next > MAX_GROUP_SKIP) throw new GroupError('TooFarAhead', 'group message: too far ahead on its chain');

  let mk: Uint8Array;
  let nextChain: ReceiverChain;
  const fresh: SkippedGroupKey[] = [];
  if (skippedAt >= 0) {
    mk = c.skipped[skippedAt]!.mk;
    nextChain = { ...c, skipped: c.skipped.filter((_, i) => i !== skippedAt) };
  } else {
    let ck = c.chainKey;
    for (let i = c.next; i < m.iteration; i++) {
      const step = groupChainStep(crypto, ck);
      if (ck !== c.chainKey) crypto.zero(ck);
      fresh.push({ iteration: i, mk: step.messageKey, at: now });
      ck = step.chainKey;
    }
    const last = groupChainStep(crypto, ck);
    if (ck !== c.chainKey) crypto.zero(ck);
    mk = last.messageKey;
    const skipped = c.skipped.concat(fresh);
    nextChain = { ...c, chainKey: last.chainKey, next: m.iteration + 1, skipped: skipped.slice(Math.max(0, skipped.length - MAX_GROUP_SKIPPED_KEYS_PER_CHAIN)) };
  }
  const discard = (): void => {
    for (const k of fresh) crypto.zero(k.mk);
    if (skippedAt < 0) {
      crypto.zero(mk);
      crypto.zero(nextChain.chainKey);
    }
  };
  const encoded = openGroupMessage(crypto, m, s.groupId, sender, mk);
  if (encoded === null) {
    discard();
    throw new GroupError('BadMessage', 'group message: does not authenticate');
  }
  let plaintext: GroupPlaintext;
  try {
    plaintext = decodeGroupPlaintext(encoded);
  } catch (cause) {
    discard();
    throw new GroupError('BadMessage', 'group message: signed by its sender but malformed', { cause });
  }
  if (skippedAt < 0) crypto.zero(mk);
  const next = expireSenderChains(chains({ ...s, chains: s.chains.map((x, i) => (i === at ? nextChain : x)) }), now);
  return { plaintext, keyId: m.keyId, iteration: m.iteration, next };
}

/** The chain whose copies carry `tag`, or null. */
export function chainForTag(crypto: Crypto, s: SenderChains, tag: Uint8Array): ReceiverChain | null {
  return s.chains.find((c) => crypto.equal(c.tag, tag)) ?? null;
}

/** Every routing tag of these chains (the engine's O(1) index: tag → group, sender). */
export function senderRoutingTags(s: SenderChains): readonly Uint8Array[] {
  return s.chains.map((c) => c.tag);
}

export function skippedGroupKeyCount(s: SenderChains): number {
  return s.chains.reduce((n, c) => n + c.skipped.length, 0);
}

export function encodeSenderChains(s: SenderChains): Uint8Array {
  const w = new Writer().u8(CHAINS_FORMAT).fixed(s.groupId).fixed(userIdBytes(s.sender)).u8(s.chains.length);
  for (const c of s.chains) {
    w.u32(c.keyId).fixed(c.signingKey).fixed(c.chainKey).u32(c.next).fixed(c.wrapKey).fixed(c.tag).u64(c.acceptedAt).u64(c.retiredAt).u16(c.skipped.length);
    for (const k of c.skipped) w.u32(k.iteration).fixed(k.mk).u64(k.at);
  }
  return w.finish();
}

/** Parses a stored record; DecodeError on anything malformed or outside the bounds. */
export function decodeSenderChains(bytes: Uint8Array): SenderChains {
  const r = new Reader(bytes, 'sender chains');
  if (r.u8() !== CHAINS_FORMAT) throw new DecodeError('sender chains: unsupported format', 'UnsupportedVersion');
  const groupId = r.fixed(GROUP_ID_BYTES);
  const sender = userIdFromBytes(r.fixed(USER_ID_BYTES));
  const count = r.u8();
  if (count < 1 || count > 1 + MAX_RETIRED_SENDER_CHAINS) throw new DecodeError('sender chains: bad chain count');
  const list: ReceiverChain[] = [];
  for (let i = 0; i < count; i++) {
    const keyId = r.u32();
    const signingKey = r.fixed(KEY_BYTES);
    const chainKey = r.fixed(KEY_BYTES);
    const next = r.u32();
    const wrapKey = r.fixed(KEY_BYTES);
    const tag = r.fixed(ROUTING_TAG_BYTES);
    const acceptedAt = r.u64();
    const retiredAt = r.u64();
    const n = r.u16();
    if (n > MAX_GROUP_SKIPPED_KEYS_PER_CHAIN) throw new DecodeError('sender chains: too many skipped keys');
    const skipped: SkippedGroupKey[] = [];
    for (let k = 0; k < n; k++) {
      const iteration = r.u32();
      const mk = r.fixed(KEY_BYTES);
      const at = r.u64();
      if (iteration >= next || (k > 0 && iteration <= skipped[k - 1]!.iteration)) throw new DecodeError('sender chains: skipped keys out of order');
      skipped.push({ iteration, mk, at });
    }
    if (next >= MAX_CHAIN_COUNTER || (i === 0) !== (retiredAt === 0)) throw new DecodeError('sender chains: bad chain fields');
    if (list.some((c) => c.keyId === keyId)) throw new DecodeError('sender chains: key id twice');
    list.push({ keyId, signingKey, chainKey, next, skipped, wrapKey, tag, acceptedAt, retiredAt });
  }
  r.end();
  return chains({ groupId, sender, chains: list });
}
