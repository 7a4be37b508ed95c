/**
 * Sorts fuzz payloads by what the protocol core makes of them against a daemon's stored state (read
 * from its stopped data dir), along the path the daemon's receiver takes: decode → session: the
 * peer whose routing tags include the envelope's → decryptFromPeer; handshake: unsealSender →
 * acceptHandshake with the stored prekeys, peer record and replay cache. The core is the judge of
 * authenticity; the fuzz test then checks what the daemon does with each class:
 *  - 'unauthenticated': the core refuses it (undecodable, no session, no key opens its header, the
 *    body's tag fails, a replayed handshake, ...): nothing may change, nothing may be sent;
 *  - 'duplicate': its header authenticates under a peer's header key and names a message already
 *    received (an exact replay, or a replayed header with any body: the body's key is gone, so it
 *    cannot be checked) — the sender may be retransmitting because a receipt was lost;
 *  - 'authentic': its header authenticates but it is no copy (TooFarAhead, SessionExhausted), or it
 *    would be delivered ('accepted'): a fuzz payload never should be (the test fails on it).
 */
import type { Crypto } from '../../../core/crypto.ts';
import { acceptHandshake, decodeEnvelope, decryptFromPeer, routingTags, unsealSender, type PeerRecord } from '../../../core/index.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { DaemonState } from './daemon-state.ts';

export type Authenticity = 'unauthenticated' | 'duplicate' | 'authentic' | 'accepted';

/** Core codes raised only once a header decrypted under a peer's header key, besides Duplicate. */
const AUTHENTIC_HEADER_CODES = new Set(['TooFarAhead', 'SessionExhausted']);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function authenticityJudge(crypto: Crypto, state: DaemonState, now: number): (payload: Uint8Array) => Authenticity {
  const byTag = new Map<string, PeerRecord>();
  for (const peer of state.peers.values()) for (const tag of routingTags(crypto, peer)) byTag.set(hex(tag), peer);
  const isReplay = (id: Uint8Array): boolean => state.replayIds.has(hex(id));
  const verdict = (run: () => unknown): Authenticity => {
    try {
      run();
      return 'accepted';
    } catch (e) {
      const code = codeOf(e);
      return code === 'Duplicate' ? 'duplicate' : code !== undefined && AUTHENTIC_HEADER_CODES.has(code) ? 'authentic' : 'unauthenticated';
    }
  };
  return (payload) => {
    let env;
    try {
      env = decodeEnvelope(payload);
    } catch {
      return 'unauthenticated';
    }
    if (env.kind === 'session') {
      const peer = byTag.get(hex(env.tag));
      return peer === undefined ? 'unauthenticated' : verdict(() => decryptFromPeer(crypto, peer, env, now));
    }
    return verdict(() => {
      const sender = unsealSender(crypto, state.identity, env);
      const peer = state.peers.get(sender.senderUserId as UserId) ?? null;
      return acceptHandshake(crypto, state.identity, state.prekeys, peer, env, sender, now, isReplay);
    });
  };
}
