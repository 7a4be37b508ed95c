/**
 * Receiving group messages, by the way they came:
 *   - a copy (envelope kind 0x03): the engine finds (group, sender) by the routing tag, this opens
 *     the wrap with that chain's wrap key and receives the group message (receiver-chain.ts);
 *   - sealed, pairwise from the sender: its bundled key (if any) is taken and the message received
 *     under it, both or neither;
 *   - resent, pairwise from the sender: the plaintext as it is (the session authenticates it), for a
 *     member of the view from a member of the view.
 * Each returns the plaintext and the next chains; the caller then records plaintext.senderSeq in the
 * sender's seq log (seq-log.ts) and delivers it only when that is not a duplicate.
 */
import type { Crypto } from '../crypto.ts';
import type { GroupEnvelope } from '../envelope.ts';
import type { UserId } from '../user-id.ts';
import { GroupError } from './errors.ts';
import { openCopy } from './copy.ts';
import type { SenderKeyDistribution } from './distribution.ts';
import type { GroupPlaintext } from './plaintext.ts';
import { acceptDistribution, chainForTag, decryptGroupMessage, type Decrypted, type SenderChains } from './receiver-chain.ts';
import { sinceBoth, type GroupView } from './view.ts';

/** A copy routed to `chains` by its tag. BadMessage when no chain has the tag or the wrap does not open. */
export function receiveCopy(crypto: Crypto, view: GroupView, chains: SenderChains, env: GroupEnvelope, now: number): Decrypted {
  const chain = chainForTag(crypto, chains, env.tag);
  if (chain === null) throw new GroupError('BadMessage', 'group copy: routed to chains without its tag');
  return decryptGroupMessage(crypto, view, chains, openCopy(crypto, chain.wrapKey, env), now);
}

/** A sealed group message from `from` (pairwise), with its key when bundled. */
export function receiveSealed(
  crypto: Crypto,
  view: GroupView,
  self: UserId,
  from: UserId,
  chains: SenderChains | null,
  content: { readonly groupId: Uint8Array; readonly distribution: SenderKeyDistribution | null; readonly message: Uint8Array },
  now: number,
): Decrypted & { readonly firstSeq: number | null } {
  if (!crypto.equal(content.groupId, view.groupId)) throw new GroupError('WrongGroup', 'group message: another group');
  let current = chains;
  if (content.distribution !== null) current = acceptDistribution(crypto, view, self, from, chains, content.distribution, now).next;
  if (current === null) throw new GroupError('UnknownSenderKey', 'group message: no key of this sender');
  if (current.sender !== from) throw new GroupError('WrongGroup', 'group message: chains of another sender');
  return { ...decryptGroupMessage(crypto, view, current, content.message, now), firstSeq: content.distribution?.firstSeq ?? null };
}

/**
 * A re-sent plaintext from `from` (pairwise): held (GroupVersionBehind) while this member has not
 * applied the version it was sent under, refused when either side is not a member (NotGroupMember) or
 * when it was sent under a version before either joined (StaleGroupVersion).
 */
export function receiveResent(crypto: Crypto, view: GroupView, self: UserId, from: UserId, content: { readonly groupId: Uint8Array; readonly plaintext: GroupPlaintext }): GroupPlaintext {
  if (!crypto.equal(content.groupId, view.groupId)) throw new GroupError('WrongGroup', 'group message: another group');
  const version = content.plaintext.membershipVersion;
  if (version > view.version) throw new GroupError('GroupVersionBehind', 'group message: sent under a membership version not applied yet');
  const since = sinceBoth(view, self, from);
  if (since === undefined || from === self) throw new GroupError('NotGroupMember', 'group message: not between members');
  if (version < since) throw new GroupError('StaleGroupVersion', 'group message: sent for an earlier membership of the sender or this member');
  return content.plaintext;
}
