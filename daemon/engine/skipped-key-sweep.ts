/**
 * Expires the skipped message keys of sessions that went quiet. Encrypt and decrypt expire the keys
 * of the session they run on; a session nobody writes on would keep its keys for ever. This sweep
 * applies the same rule (a chain SKIPPED_KEY_MAX_DH_STEPS receiving DH steps old, a key older than
 * SKIPPED_KEY_MAX_AGE_MS) to every session of every peer: at start and every
 * timing.skippedKeySweepMs (daemon.ts). Only the peers the due index (peers.ts) names are read; each
 * is rewritten under its peer lock through the normal batch, like any other state transition.
 */
import { expirePeerSkippedKeys, peerSkippedKeyCount } from '../../core/index.ts';
import { CorruptRecordError } from '../store/store.ts';
import type { EngineContext } from './context.ts';
import { Transaction } from './transaction.ts';

export class SkippedKeySweep {
  /** Skipped keys expired by the sweep so far (this process). */
  expiredKeys = 0;

  constructor(private readonly ctx: EngineContext) {}

  /** One pass at the context's clock; resolves with the number of keys expired. */
  async run(): Promise<number> {
    const { ctx } = this;
    let expired = 0;
    for (const peer of ctx.peers.skippedKeysDueBy(ctx.now())) {
      expired += await ctx.peerLocks.run(peer, async () => {
        let handle;
        try {
          handle = await ctx.peers.load(peer);
        } catch (e) {
          if (e instanceof CorruptRecordError) return 0; // fails closed for that peer (receiver.ts)
          throw e;
        }
        if (handle.record === null) return 0;
        const next = expirePeerSkippedKeys(handle.record, ctx.now());
        if (next === handle.record) return 0;
        const n = peerSkippedKeyCount(handle.record) - peerSkippedKeyCount(next);
        const tx = new Transaction();
        ctx.peers.write(tx, handle, next);
        await tx.commit(ctx.store, ctx.fatal);
        return n;
      });
    }
    this.expiredKeys += expired;
    if (expired > 0) ctx.log.info({ expired }, 'expired skipped message keys of quiet sessions');
    return expired;
  }
}
