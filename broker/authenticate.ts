/**
 * The CONNECT hook: verifies the relay proof (core/relay-auth.ts) against this relay's name and the
 * connection's TLS channel binding (channel-binding.ts: on a TLS listener only a proof made on this
 * very TLS connection verifies; on a plain one only an unbound proof), then refuses a nonce seen
 * within the skew window (proof-nonces.ts). Refusals are CONNACK return codes: 4 (bad user name or
 * password) for a missing or malformed proof, 5 (not authorized) for a well-formed proof that fails
 * or a replay, 3 (server unavailable: retry later) when the identity is at its login bound.
 */
import type { Logger } from 'pino';
import type { Crypto } from '../core/crypto.ts';
import { DecodeError, isRatchetError } from '../core/errors.ts';
import { relayProofReplayKey, verifyRelayProof } from '../core/relay-auth.ts';
import { channelBindingOf, type ClientTransport } from './channel-binding.ts';
import type { ProofNonceStore } from './proof-nonces.ts';

export type ConnackRefusal = Error & { returnCode: 3 | 4 | 5 };

export type AuthenticateHook = (
  client: { readonly id: string } & ClientTransport,
  username: Readonly<string | undefined>,
  password: Readonly<Buffer | undefined>,
  done: (error: ConnackRefusal | null, success: boolean | null) => void,
) => void;

export interface AuthenticateOptions {
  readonly crypto: Crypto;
  readonly audience: string;
  readonly maxSkewMs: number;
  /** Remembers used proof nonces (proof-nonces.ts): durable with a durable persistence. */
  readonly nonces: ProofNonceStore;
  readonly now: () => number;
  readonly logger: Logger;
  /** Told of every refused login with its reason: one of LOGIN_REFUSAL_REASONS or a core error code (bounded). */
  readonly onRefused?: (reason: string) => void;
}

/** Refusal reasons besides the proof's own error codes (core/relay-auth.ts: BadSignature, StaleProof, …). */
export const LOGIN_REFUSAL_REASONS = ['ConnectionGone', 'ReplayedProof', 'TooManyLogins', 'InternalError'] as const;

function refusal(returnCode: 3 | 4 | 5, message: string): ConnackRefusal {
  return Object.assign(new Error(message), { returnCode });
}

/** Identities whose throttling was logged at warn level (then debug until they log in again); bounded. */
const MAX_THROTTLED_LOGGED = 10_000;

export function createAuthenticate(opts: AuthenticateOptions): AuthenticateHook {
  const replays = opts.nonces;
  const throttled = new Set<string>();
  const refused = opts.onRefused ?? (() => undefined);
  return (client, username, password, done) => {
    const now = opts.now();
    let binding: Uint8Array;
    try {
      binding = channelBindingOf(client);
    } catch (e) {
      // The TLS socket closed before the hook ran: nothing to log in.
      opts.logger.debug({ err: (e as Error).message }, 'login refused: connection gone');
      refused('ConnectionGone');
      return done(refusal(3, 'server unavailable'), false);
    }
    let proof: ReturnType<typeof verifyRelayProof>;
    try {
      proof = verifyRelayProof(opts.crypto, username, password, client.id, opts.audience, now, opts.maxSkewMs, binding);
    } catch (e) {
      return refuse(e);
    }
    replays.claim(proof.userId, relayProofReplayKey(proof), proof.timestamp, now).then((verdict) => {
      if (verdict === 'replayed') {
        opts.logger.warn({ userId: proof.userId, code: 'ReplayedProof' }, 'login refused');
        refused('ReplayedProof');
        return done(refusal(5, 'not authorized'), false);
      }
      if (verdict === 'limited') {
        // A hammering identity is refused hundreds of times a second: one warning, then debug lines.
        const first = !throttled.has(proof.userId);
        if (first && throttled.size >= MAX_THROTTLED_LOGGED) throttled.clear();
        throttled.add(proof.userId);
        opts.logger[first ? 'warn' : 'debug']({ userId: proof.userId, code: 'TooManyLogins' }, 'login refused: this identity logs in too often (retry later)');
        refused('TooManyLogins');
        return done(refusal(3, 'server unavailable'), false);
      }
      throttled.delete(proof.userId);
      opts.logger.debug({ userId: proof.userId }, 'login accepted');
      return done(null, true);
    }, refuse);

    function refuse(e: unknown): void {
      if (!isRatchetError(e)) {
        // A bug, not a bad proof: log it loudly and refuse this login instead of crashing the relay.
        opts.logger.error({ err: e }, 'login check failed unexpectedly');
        refused('InternalError');
        return done(refusal(3, 'server unavailable'), false);
      }
      // client.id is untrusted text: bounded in the log, never the password.
      opts.logger.info({ clientId: String(client.id).slice(0, 64), code: e.code }, 'login refused');
      refused(e.code);
      return done(refusal(e instanceof DecodeError ? 4 : 5, e instanceof DecodeError ? 'bad user name or password' : 'not authorized'), false);
    }
  };
}
