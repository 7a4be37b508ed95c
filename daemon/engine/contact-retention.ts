/**
 * Forgets unverified contacts that have been idle for the contact retention (contacts.ts): the
 * contact record, the peer record (sessions, transcript) and its routing tags go in one batch, under
 * the peer lock. A contact with messages still in our outbox or held in quarantine is kept. Runs at
 * start and on the maintenance timer. A forgotten contact that writes again starts afresh: its
 * envelopes on the old session are dropped (unknown routing tag) until its outbox, seeing no
 * receipt, sets up a new session (outbox stuckAfterPublishes), which is a first contact again.
 */
import { isIdle } from './contacts.ts';
import type { EngineContext } from './context.ts';
import { CorruptRecordError } from '../store/store.ts';
import { Transaction } from './transaction.ts';

/** Deletes idle unverified contacts; resolves with how many were forgotten. */
export async function forgetIdleContacts(ctx: EngineContext, retentionMs: number): Promise<number> {
  let forgotten = 0;
  for (const candidate of ctx.contacts.idle(ctx.now(), retentionMs)) {
    const peer = candidate.userId;
    const done = await ctx.peerLocks.run(peer, async () => {
      const contact = await ctx.contacts.lookup(peer);
      if (contact === undefined || !isIdle(contact, ctx.now(), retentionMs)) return false;
      if (ctx.quarantine.count(peer) > 0 || (await ctx.outbox.pendingFor(peer)).length > 0) return false;
      const tx = new Transaction();
      try {
        const handle = await ctx.peers.load(peer);
        if (handle.record !== null) ctx.peers.remove(tx, handle);
      } catch (e) {
        if (!(e instanceof CorruptRecordError)) throw e;
        return false; // its state is held for inspection, not deleted
      }
      ctx.contacts.remove(tx, peer);
      await tx.commit(ctx.store, ctx.fatal);
      return true;
    });
    if (done) forgotten += 1;
  }
  if (forgotten > 0) ctx.log.info({ forgotten, retentionDays: retentionMs / 86_400_000 }, 'idle unverified contacts forgotten');
  return forgotten;
}
