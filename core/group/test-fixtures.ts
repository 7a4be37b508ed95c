/** TEST ONLY. Small helpers shared by the groups tests. */
import type { Crypto } from '../crypto.ts';
import { DecodeError } from '../errors.ts';
import { createIdentity, type LocalIdentity } from '../identity.ts';
import { GroupError } from './errors.ts';
import { createMembership } from './membership.ts';
import { applyMembership, ownView, type GroupView } from './view.ts';
import { userIdBytes } from './ids.ts';
import { sealGroupMessage } from './message.ts';
import { encodeGroupPlaintext } from './plaintext.ts';
import { stepSenderKey, type OwnSenderKey } from './sender-key.ts';

export const T0 = 1_700_000_000_000;

/** The code of the GroupError or DecodeError `f` throws; fails on anything else or on success. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof GroupError || e instanceof DecodeError) return e.code;
    throw new Error(`expected a GroupError or DecodeError, got ${String(e)}`);
  }
  throw new Error('expected a throw, but the call returned');
}

export function identities(crypto: Crypto, n: number): LocalIdentity[] {
  return Array.from({ length: n }, () => createIdentity(crypto));
}

/** A group of owner + members, and every member's view after applying version 1. */
export function groupOf(crypto: Crypto, owner: LocalIdentity, members: readonly LocalIdentity[]): { owner: GroupView; views: GroupView[] } {
  const m = createMembership(crypto, owner, 'test group', members.map((x) => x.userId), T0);
  const views = members.map((x) => applyMembership(crypto, null, m.bytes, owner.userId, x.userId).view!);
  return { owner: ownView(m, null), views };
}

/** An encoded group plaintext with seq `seq` (its message id is the seq repeated). */
export function plaintext(text: string, seq = 1, membershipVersion = 1): Uint8Array {
  return encodeGroupPlaintext({ messageId: new Uint8Array(16).fill(seq & 0xff), senderSeq: seq, sentAt: T0, membershipVersion, contentType: 'text/plain', body: new TextEncoder().encode(text) });
}

/** One group message of `sender` under `key` (no fan-out): its bytes and the next key. */
export function seal(crypto: Crypto, view: GroupView, sender: LocalIdentity, key: OwnSenderKey, text: string): { bytes: Uint8Array; next: OwnSenderKey } {
  const step = stepSenderKey(crypto, key);
  const bytes = sealGroupMessage(crypto, {
    groupId: view.groupId,
    sender: userIdBytes(sender.userId),
    keyId: key.keyId,
    iteration: step.iteration,
    messageKey: step.messageKey,
    signingPrivateKey: key.signing.privateKey,
    plaintext: plaintext(text, key.nextSeq, view.version),
  });
  crypto.zero(step.messageKey);
  return { bytes, next: step.next };
}
