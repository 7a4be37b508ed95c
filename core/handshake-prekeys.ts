/**
 * Has an unanswered handshake of ours lost its prekeys? The initiator's own test, from signed data
 * only (no message from the responder is needed, so nobody can fake the answer):
 *
 * The handshake id (x3dh.ts deriveHandshakeId) is a hash of IK_A, IK_B, EK_A and the prekey ids the
 * handshake used, so the initiator, which keeps EK_A's public half and the id, can tell whether a
 * verified bundle of the responder still offers those prekeys: the current signed prekey, and the
 * one-time prekey (or none). If it does, the responder can still accept the handshake (it has just
 * not processed it yet). If it does not, the one-time prekey was consumed (by this handshake, or by
 * another initiator that won the race) or the signed prekey was rotated: a handshake that still has
 * no answer is then presumed lost, and a fresh session from that bundle replaces it.
 * Cost: at most 1 + (one-time prekeys in the bundle) SHA-256 of 150 bytes.
 */
import type { VerifiedBundle } from './bundle.ts';
import type { Crypto } from './crypto.ts';
import type { LocalIdentity } from './identity.ts';
import type { Session } from './session.ts';
import { deriveHandshakeId } from './x3dh.ts';

/**
 * True when `session` has no pending handshake, or when `bundle` (the responder's, verified) still
 * publishes the signed prekey and the one-time prekey (or none) that its handshake used.
 */
export function handshakePrekeysPublished(crypto: Crypto, own: LocalIdentity, session: Session, bundle: VerifiedBundle): boolean {
  const pending = session.pendingHandshake;
  if (pending === null) return true;
  const pqPrekeyId = pending.pq?.prekeyId ?? null;
  if (pqPrekeyId !== null) {
    // PQXDH: the PQ prekey it used must still be published too (a one-time one, or the last-resort one).
    const pq = bundle.pq;
    if (pq === null || (pq.lastResort.id !== pqPrekeyId && !pq.oneTime.some((k) => k.id === pqPrekeyId))) return false;
  }
  const candidates: Array<number | null> = [null, ...bundle.oneTimePrekeys.map((k) => k.id)];
  return candidates.some((oneTimePrekeyId) => {
    const id = deriveHandshakeId(crypto, own.keyPair.publicKey, bundle.identityKey, pending.ephemeralKey, {
      signedPrekeyId: bundle.signedPrekey.id,
      oneTimePrekeyId,
      pqPrekeyId,
    });
    return crypto.equal(id, session.id);
  });
}
