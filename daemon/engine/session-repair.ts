/**
 * What the engine does when a session stops working, and only on authenticated grounds (nothing an
 * unauthenticated party sends can start any of it; see receiver.ts `rejected`):
 *
 *  - reset (scheduleReset): the peer's message on our active session was too far ahead (TooFarAhead:
 *    its header decrypted under the session's header key, so the peer sent it). Start a fresh
 *    session from the peer's bundle and send a 'reset' on it; the peer adopts it and re-sends what we
 *    have not acknowledged. At most one per peer per resetIntervalMs, MAX_RESETS_PER_MINUTE overall.
 *  - re-send (scheduleResend): the peer's 'reset' arrived (decrypted): re-send our unacknowledged
 *    messages on the session it made active.
 *  - lost handshake (checkUnanswered): our messages on a handshake the peer has not answered stay
 *    without receipt past handshakeAnswerWaitMs. Re-fetch the peer's signed bundle; if it no longer
 *    offers the prekeys the handshake used (core/handshake-prekeys.ts: a lost one-time-prekey race,
 *    or a rotated signed prekey), start a fresh session from that bundle and re-send on it (the
 *    transcript drops copies). A bundle check at most once per peer per handshakeCheckIntervalMs.
 *  - re-establish (scheduleReestablish): our messages stay unacknowledged although the broker took
 *    them several times (outbox stuckAfterPublishes): the peer may have lost the session (restored
 *    from a backup: our routing tags mean nothing to it). Re-send on a fresh session.
 *    A fresh session for either reason at most once per peer per reestablishIntervalMs.
 * Every per-peer limit lives in bounded memory (per-peer-interval.ts).
 */
import { decodeContent } from '../../core/content.ts';
import { handshakePrekeysPublished } from '../../core/handshake-prekeys.ts';
import { encryptForPeer, resendToPeer, type PeerRecord } from '../../core/index.ts';
import type { UserId } from '../../core/user-id.ts';
import type { EngineContext } from './context.ts';
import { PerPeerInterval } from './per-peer-interval.ts';
import type { PeerHandle } from './peers.ts';
import { errCode, refuseChanged, type Sender } from './sender.ts';
import { Transaction } from './transaction.ts';

/** Resets sent in any one minute, over all peers: a bound on what even authenticated triggers cost. */
export const MAX_RESETS_PER_MINUTE = 30;
const RESET_WINDOW_MS = 60_000;

export class SessionRepair {
  private readonly resets: PerPeerInterval;
  private readonly freshSessions: PerPeerInterval;
  private readonly handshakeChecks: PerPeerInterval;
  private resetWindow = { start: 0, count: 0 };
  private readonly background = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly sender: Sender,
  ) {
    this.resets = new PerPeerInterval(ctx.timing.resetIntervalMs);
    this.freshSessions = new PerPeerInterval(ctx.timing.reestablishIntervalMs);
    this.handshakeChecks = new PerPeerInterval(ctx.timing.handshakeCheckIntervalMs);
  }

  /** Peers remembered by each limiter (tests: they stay bounded). */
  get tracked(): { resets: number; freshSessions: number; handshakeChecks: number } {
    return { resets: this.resets.size, freshSessions: this.freshSessions.size, handshakeChecks: this.handshakeChecks.size };
  }

  // ---- resets ---------------------------------------------------------------------------------

  /** An authenticated TooFarAhead on our active session with `peer` (receiver.ts): send a reset. */
  scheduleReset(peer: UserId, reason: string): void {
    if (this.closed || peer === this.ctx.identity.userId) return;
    const now = this.ctx.now();
    if (now - this.resetWindow.start >= RESET_WINDOW_MS) this.resetWindow = { start: now, count: 0 };
    if (this.resetWindow.count >= MAX_RESETS_PER_MINUTE) return;
    if (!this.resets.take(peer, now)) return;
    this.resetWindow.count += 1;
    this.ctx.log.debug({ peer, reason }, 'sending a session reset');
    this.track(this.sendReset(peer), 'reset');
  }

  private async sendReset(peer: UserId): Promise<void> {
    const { crypto, identity, peers, store, relay } = this.ctx;
    await this.sender.withSession(peer, true, async ({ handle, record, tx }) => {
      const { envelope, next } = encryptForPeer(crypto, identity, record, { kind: 'reset' }, this.ctx.now());
      peers.write(tx, handle, next);
      await tx.commit(store, this.ctx.fatal);
      relay.publishEnvelope(peer, envelope).catch((err: unknown) => this.ctx.log.debug({ code: errCode(err) }, 'reset not published'));
    });
  }

  /** The peer's reset decrypted: re-send every unacknowledged message on the (now active) session. */
  scheduleResend(peer: UserId): void {
    if (this.closed) return;
    this.track(this.resendPending(peer, false), 'resend');
  }

  // ---- fresh sessions for messages that stay unacknowledged -----------------------------------

  /** Outbox: messages to this peer stay unacknowledged although the broker took them several times. */
  scheduleReestablish(peer: UserId): void {
    if (this.closed) return;
    if (!this.freshSessions.take(peer, this.ctx.now())) return;
    this.ctx.log.info({ peer }, 'messages stay unacknowledged: re-sending them on a fresh session');
    this.track(this.resendPending(peer, true), 'reestablish');
  }

  /** Outbox: messages sent as a handshake to this peer wait for a receipt since `waitingSince`. */
  checkUnanswered(peer: UserId, waitingSince: number): void {
    if (this.closed) return;
    const now = this.ctx.now();
    if (now - waitingSince < this.ctx.timing.handshakeAnswerWaitMs) return;
    if (!this.handshakeChecks.take(peer, now)) return;
    this.track(this.replaceLostHandshake(peer), 'handshake check');
  }

  /** Re-fetches the peer's bundle; a fresh session if our unanswered handshake's prekeys are gone. */
  private async replaceLostHandshake(peer: UserId): Promise<void> {
    const { crypto, identity, peers, contacts, peerLocks } = this.ctx;
    const pendingId = await peerLocks.run(peer, async () => {
      const active = (await peers.load(peer)).record?.active ?? null;
      return active?.pendingHandshake ? active.id : null;
    });
    if (pendingId === null) return;
    const bytes = await this.sender.fetchBundle(peer); // outside the peer lock (sender.ts)
    const count = await peerLocks.run(peer, async () => {
      const contact = await contacts.lookup(peer);
      refuseChanged(contact);
      const handle = await peers.load(peer);
      const record = handle.record;
      const active = record?.active ?? null;
      // answered (or replaced) while the bundle was fetched: nothing to do
      if (record === null || active === null || active.pendingHandshake === null || !crypto.equal(active.id, pendingId)) return 0;
      const bundle = this.sender.verifyPeerBundle(peer, record, contact, bytes, await this.sender.pqPins.isPinned(peer));
      if (handshakePrekeysPublished(crypto, identity, active, bundle)) return 0; // the peer has not processed it yet
      if (!this.freshSessions.take(peer, this.ctx.now())) return 0;
      const tx = new Transaction();
      return this.reencryptPending(peer, handle, this.sender.startVerified(tx, peer, record, contact, bundle), tx);
    });
    if (count > 0) this.ctx.log.info({ peer, messages: count }, 'our handshake lost its prekeys (the bundle no longer offers them): re-sent on a fresh session');
  }

  private async resendPending(peer: UserId, freshSession: boolean): Promise<void> {
    if ((await this.ctx.outbox.pendingFor(peer)).length === 0) return;
    const count = await this.sender.withSession(peer, freshSession, ({ handle, record, tx }) => this.reencryptPending(peer, handle, record, tx));
    if (count > 0) this.ctx.log.info({ peer, messages: count }, 're-sent unacknowledged messages on the active session');
  }

  /** Re-encrypts every unacknowledged message on `record`'s active session, commits, publishes (under the peer lock). */
  private async reencryptPending(peer: UserId, handle: PeerHandle, record: PeerRecord, tx: Transaction): Promise<number> {
    const { crypto, identity, peers, outbox, store } = this.ctx;
    const pending = await outbox.pendingFor(peer);
    if (pending.length === 0) return 0;
    const now = this.ctx.now();
    let current = record;
    for (const p of pending) {
      const { envelope, next } = resendToPeer(crypto, identity, current, decodeContent(p.content), now);
      current = next;
      outbox.replace(tx, { ...p, envelope });
    }
    peers.write(tx, handle, current);
    await tx.commit(store, this.ctx.fatal);
    for (const p of pending) void outbox.publish(p.seq);
    return pending.length;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  private track(p: Promise<void>, what: string): void {
    const wrapped = p.catch((err: unknown) => this.ctx.log.debug({ code: errCode(err), what }, 'background repair failed'));
    this.background.add(wrapped);
    void wrapped.then(() => this.background.delete(wrapped));
  }

  /** Starts nothing more; waits for what already started. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.background]);
  }
}
