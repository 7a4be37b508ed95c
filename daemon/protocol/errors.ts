/**
 * Typed errors of the protocol core. Every failure the core reports is a RatchetError with a stable
 * string `code`; messages never contain key material or plaintext.
 */
export type ErrorCode =
  // decoding
  | 'DecodeError'
  | 'UnsupportedVersion'
  // keys and bundles
  | 'InvalidKey'
  | 'BadSignature'
  | 'StaleBundle'
  | 'FutureBundle'
  | 'RolledBackBundle'
  // handshake
  | 'StalePrekey'
  | 'ReplayedHandshake'
  | 'WrongRecipient'
  // ratchet
  | 'Duplicate'
  | 'TooFarAhead'
  | 'BadMessage'
  | 'NoSession'
  | 'SessionExhausted'
  | 'MessageTooLarge'
  // transcript integrity (PROTOCOL.md 24): the hash chain of a peer's messages does not link
  | 'TranscriptBroken'
  // trust
  | 'UntrustedIdentity'
  // relay authentication (CONNECT proof)
  | 'IdentityMismatch'
  | 'StaleProof'
  | 'FutureProof'
  | 'ReplayedProof'
  // at rest / config / store (used by adapters)
  | 'CorruptRecord'
  | 'ConfigError'
  | 'StoreError';

export class RatchetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Malformed bytes: wrong length, unknown tag, truncated input. */
export class DecodeError extends RatchetError {
  constructor(message: string, code: 'DecodeError' | 'UnsupportedVersion' | 'InvalidKey' = 'DecodeError') {
    super(code, message);
  }
}

/** A message that cannot be decrypted (authentication failed, duplicate, too far ahead, no session). */
export class DecryptError extends RatchetError {}

/** Bundle and handshake validation failures. */
export class HandshakeError extends RatchetError {}

/** Trust decisions: a changed identity is refused until approved. */
export class TrustError extends RatchetError {}

export function isRatchetError(e: unknown): e is RatchetError {
  return e instanceof RatchetError;
}
