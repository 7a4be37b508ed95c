/**
 * A daemon restored from a backup (daemon/backup/) has its identity, prekeys, contacts, outbox and
 * every peer's transcript, but no session: the backup holds no ratchet state. Its contacts still
 * encrypt to the old sessions, which it can no longer read (their routing tags are unknown: those
 * envelopes are dropped and acked, and stay in the sender's outbox).
 *
 * The restore writes one marker per peer (meta `reestablish:<n>` → user id). On its first start
 * the daemon works through them: for each peer it fetches the peer's bundle, starts a fresh X3DH
 * session, sends a 'reset' on it and re-encrypts its own unacknowledged messages to that peer on
 * it, and deletes the marker — all in one batch, published once durable. The peer accepts the
 * handshake (same identity key: no alert, no approval), and the reset makes the new session its
 * active one and has it re-send everything we have not acknowledged (session-repair.ts
 * scheduleResend). Because the transcript was restored, sequence numbers and hashes carry on
 * where they were: copies are dropped by seq, nothing forks, every message arrives once. The reset
 * also says where our transcript stands (a rebase): if the backup was older than our last message,
 * the peer has seen more of our transcript than we remember, and rebases on it instead of taking our
 * next messages for a fork (core/transcript.ts rebaseReceive).
 *
 * A peer that cannot be reached now (no bundle, changed identity, relay down) keeps its marker and
 * is tried again at the next maintenance tick and the next start. A marker whose peer is no longer
 * a contact is dropped.
 */
import { decodeContent } from '../../core/content.ts';
import { encryptForPeer, resendToPeer } from '../../core/index.ts';
import { parseUserId, type UserId } from '../../core/user-id.ts';
import { utf8 } from '../../core/bytes.ts';
import { counterKey } from '../store/kinds.ts';
import type { BatchOp } from '../store/store.ts';
import type { EngineContext } from './context.ts';
import { errCode, type Sender } from './sender.ts';

export const REESTABLISH_PREFIX = 'reestablish:';

/** The markers a restore writes: one per peer whose sessions the backup left out. */
export function reestablishMarkerOps(peers: readonly UserId[]): BatchOp[] {
  return peers.map((peer, i) => ({ type: 'put', kind: 'meta', key: REESTABLISH_PREFIX + counterKey(i), value: utf8.encode(peer) }));
}

export interface ReestablishOutcome {
  /** Peers now on a fresh session. */
  readonly done: number;
  /** Peers still marked (tried again later). */
  readonly left: number;
}

export class RestoredSessions {
  private running: Promise<ReestablishOutcome> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly sender: Sender,
  ) {}

  /**
   * Works through the markers, one run at a time. A call during a run (the relay connected just as
   * a run was failing for want of it) makes that run go round once more for what is left.
   */
  run(): Promise<ReestablishOutcome> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const loop = async (): Promise<ReestablishOutcome> => {
      let out: ReestablishOutcome;
      do {
        this.again = false;
        out = await this.runOnce();
      } while (this.again && out.left > 0 && !this.closed);
      return out;
    };
    const p = loop().finally(() => {
      this.running = undefined;
    });
    this.running = p;
    return p;
  }

  private async markers(): Promise<Array<{ key: string; peer: UserId }>> {
    const out: Array<{ key: string; peer: UserId }> = [];
    for await (const rec of this.ctx.store.iterate('meta', { prefix: REESTABLISH_PREFIX })) {
      if (!rec.ok) {
        this.ctx.log.error('a session re-establish marker is corrupt; skipped');
        continue;
      }
      try {
        out.push({ key: rec.key, peer: parseUserId(utf8.decode(rec.value)) });
      } catch {
        this.ctx.log.error('a session re-establish marker names no user; deleted');
        await this.ctx.store.del('meta', rec.key);
      }
    }
    return out;
  }

  private async runOnce(): Promise<ReestablishOutcome> {
    const markers = await this.markers();
    if (markers.length === 0) return { done: 0, left: 0 };
    this.ctx.log.info({ peers: markers.length }, 'restored from a backup: starting fresh sessions with every contact');
    let done = 0;
    for (const m of markers) {
      if (this.closed) break;
      try {
        if (await this.reestablish(m.key, m.peer)) done += 1;
      } catch (err) {
        this.ctx.log.warn({ peer: m.peer, code: errCode(err) }, 'fresh session after the restore not started yet; tried again later');
      }
    }
    const left = (await this.markers()).length;
    this.ctx.log.info({ done, left }, 'sessions re-established after the restore');
    return { done, left };
  }

  /** One peer: reset + our unacknowledged messages on a fresh session, marker deleted, in one batch. */
  private async reestablish(markerKey: string, peer: UserId): Promise<boolean> {
    const { crypto, identity, peers, outbox, store, relay, contacts } = this.ctx;
    if ((await contacts.lookup(peer)) === undefined) {
      await store.del('meta', markerKey);
      return false;
    }
    // A session made since the restore (a Send got there first) is fresh too: the reset goes on it.
    return this.sender.withSession(peer, false, async ({ handle, record, tx }) => {
      const now = this.ctx.now();
      // the reset says where our transcript stands: a peer that saw more of it (the backup was older
      // than our last message) rebases on it instead of taking our next messages for a fork
      const rebase = { seq: record.transcript.sendSeq, hash: record.transcript.sendHash };
      const reset = encryptForPeer(crypto, identity, record, { kind: 'reset', rebase }, now);
      let current = reset.next;
      const pending = await outbox.pendingFor(peer);
      for (const p of pending) {
        const { envelope, next } = resendToPeer(crypto, identity, current, decodeContent(p.content), now);
        current = next;
        outbox.replace(tx, { ...p, envelope });
      }
      peers.write(tx, handle, current);
      tx.del('meta', markerKey);
      await tx.commit(store, this.ctx.fatal);
      relay.publishEnvelope(peer, reset.envelope).catch((err: unknown) => this.ctx.log.debug({ code: errCode(err) }, 'reset not published'));
      for (const p of pending) void outbox.publish(p.seq);
      return true;
    });
  }

  /** Starts no more peers; waits for a run in progress. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
  }
}
