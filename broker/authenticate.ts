/**
 * The CONNECT hook: verifies the relay proof (core/relay-auth.ts) and refuses a nonce
 * seen within the skew window. Refusals are CONNACK return codes: 4 (bad user name or password) for
 * a missing or malformed proof, 5 (not authorized) for a well-formed proof that fails, 3 (server
 * unavailable) when the replay cache is full.
 */
import type { Logger } from 'pino';
import type { Crypto } from '../core/crypto.ts';
import { DecodeError, isRatchetError } from '../core/errors.ts';
import { relayProofReplayKey, verifyRelayProof } from '../core/relay-auth.ts';
import type { ProofNonceStore } from './proof-nonces.ts';

export type ConnackRefusal = Error & { returnCode: 3 | 4 | 5 };

export type AuthenticateHook = (
  client: { readonly id: string },
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
}

function refusal(returnCode: 3 | 4 | 5, message: string): ConnackRefusal {
  return Object.assign(new Error(message), { returnCode });
}

export function createAuthenticate(opts: AuthenticateOptions): AuthenticateHook {
  const replays = opts.nonces;
  return (client, username, password, done) => {
    const now = opts.now();
    let proof: ReturnType<typeof verifyRelayProof>;
    try {
      proof = verifyRelayProof(opts.crypto, username, password, client.id, opts.audience, now, opts.maxSkewMs);
    } catch (e) {
      return refuse(e);
    }
    replays.claim(relayProofReplayKey(proof), proof.timestamp, now).then((verdict) => {
      if (verdict === 'replayed') {
        opts.logger.warn({ userId: proof.userId, code: 'ReplayedProof' }, 'login refused');
        return done(refusal(5, 'not authorized'), false);
      }
      if (verdict === 'full') {
        opts.logger.error({ userId: proof.userId, size: replays.size }, 'login refused: replay cache full');
        return done(refusal(3, 'server unavailable'), false);
      }
      opts.logger.debug({ userId: proof.userId }, 'login accepted');
      return done(null, true);
    }, refuse);

    function refuse(e: unknown): void {
      if (!isRatchetError(e)) {
        // A bug, not a bad proof: log it loudly and refuse this login instead of crashing the relay.
        opts.logger.error({ err: e }, 'login check failed unexpectedly');
        return done(refusal(3, 'server unavailable'), false);
      }
      // client.id is untrusted text: bounded in the log, never the password.
      opts.logger.info({ clientId: String(client.id).slice(0, 64), code: e.code }, 'login refused');
      return done(refusal(e instanceof DecodeError ? 4 : 5, e instanceof DecodeError ? 'bad user name or password' : 'not authorized'), false);
    }
  };
}
