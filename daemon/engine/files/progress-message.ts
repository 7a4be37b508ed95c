/**
 * Sends a file progress report to a peer over the pairwise session: a content outside the
 * transcript's sequence (core/file/progress.ts), not kept in the outbox — a lost report is replaced
 * by the next one, and both sides time out and resend.
 * Runs under the peer lock; the publish is started after the peer record is durable, not awaited
 * inside the lock (see sender.ts).
 */
import { encryptForPeer } from '../../../core/index.ts';
import type { FileProgress } from '../../../core/file/progress.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { EngineContext } from '../context.ts';
import { errCode, usable } from '../sender.ts';
import { Transaction } from '../transaction.ts';

/** Resolves once the report is encrypted and published (or false when there is no usable session). */
export async function sendFileProgress(ctx: EngineContext, peer: UserId, progress: FileProgress): Promise<boolean> {
  const envelope = await ctx.peerLocks.run(peer, async () => {
    const handle = await ctx.peers.load(peer);
    const record = handle.record;
    const now = ctx.now();
    if (!usable(record, now)) return undefined;
    const { envelope, next } = encryptForPeer(ctx.crypto, ctx.identity, record, { kind: 'fileProgress', progress }, now);
    const tx = new Transaction();
    ctx.peers.write(tx, handle, next);
    await tx.commit(ctx.store, ctx.fatal);
    return envelope;
  });
  if (envelope === undefined) return false;
  try {
    await ctx.relay.publishEnvelope(peer, envelope);
  } catch (err) {
    ctx.log.debug({ code: errCode(err) }, 'file progress not published');
  }
  return true;
}
