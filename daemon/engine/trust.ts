/**
 * VerifyContact: the user compares the safety number out
 * of band and confirms it. The comparison is constant time. For a contact whose identity changed,
 * this approves the new key: the old key's sessions are deleted, unsent messages written for the old
 * identity are given up (never re-encrypted for the new key), and the held envelopes are released
 * through the normal receive path.
 */
import type { Contact } from './types.ts';
import { EngineError } from './errors.ts';
import { utf8 } from '../../core/bytes.ts';
import type { UserId } from '../../core/user-id.ts';
import { CorruptRecordError } from '../store/store.ts';
import type { EngineContext } from './context.ts';
import type { ContactRecord } from './records.ts';
import type { Receiver } from './receiver.ts';
import { Transaction } from './transaction.ts';

export async function verifyContact(ctx: EngineContext, receiver: Receiver, userId: UserId, safetyNumber: string): Promise<Contact> {
  const given = safetyNumber.replace(/\s+/g, '');
  const { contact, approvedChange } = await ctx.peerLocks.run(userId, async () => {
    const current = await ctx.contacts.lookup(userId);
    if (current === undefined) throw new EngineError('UnknownPeer', `${userId} is not a contact`);
    const key = current.pendingIdentityKey ?? current.identityKey;
    const expected = ctx.contacts.safetyNumber(userId, key);
    if (!ctx.crypto.equal(utf8.encode(expected), utf8.encode(given))) {
      throw new EngineError('SafetyNumberMismatch', 'the safety number does not match: compare it again with your contact');
    }
    const approvedChange = current.pendingIdentityKey !== undefined;
    const next: ContactRecord = { userId, identityKey: key.slice(), trust: 'verified', addedAt: current.addedAt };
    if (!approvedChange && current.lastBundleVersion !== undefined) next.lastBundleVersion = current.lastBundleVersion;
    const tx = new Transaction();
    ctx.contacts.put(tx, next);
    if (approvedChange) {
      try {
        const handle = await ctx.peers.load(userId);
        if (handle.record !== null) ctx.peers.remove(tx, handle);
      } catch (e) {
        if (!(e instanceof CorruptRecordError)) throw e;
        tx.del('peer', userId);
      }
      ctx.outbox.failAllTo(tx, userId);
    }
    await tx.commit(ctx.store, ctx.fatal);
    return { contact: next, approvedChange };
  });
  if (approvedChange || ctx.quarantine.count(userId) > 0) {
    const released = await receiver.releaseQuarantine(userId);
    ctx.log.info({ peer: userId, released }, 'contact approved; held messages released');
  }
  return ctx.contacts.toApi(contact);
}
