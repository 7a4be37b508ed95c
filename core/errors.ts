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
  // post-quantum: a peer seen with PQ prekeys offers none, or a classic handshake to a PQ bundle
  | 'DowngradedBundle'
  | 'DowngradedHandshake'
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
  // transcript integrity: the hash chain of a peer's messages does not link
  | 'TranscriptBroken'
  // trust
  | 'UntrustedIdentity'
  // relay authentication (CONNECT proof)
  | 'IdentityMismatch'
  | 'StaleProof'
  | 'FutureProof'
  | 'ReplayedProof';

/**
 * The base of every typed error in ratchetd, whatever the layer: a stable string `code` and a
 * `cause`. Each layer has its own subclass and code union (the core's RatchetError below, the
 * store's, the relay client's, the engine's, the API's, the broker's); only the API layer maps
 * codes to statuses (daemon/api/status-codes.ts). Messages never contain keys or plaintext.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export function isCodedError(e: unknown): e is CodedError {
  return e instanceof CodedError;
}

/** A failure reported by the protocol core. */
export class RatchetError extends CodedError<ErrorCode> {}

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
