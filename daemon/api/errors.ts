/**
 * Errors of the local API layer and of the daemon engine behind it that the protocol core has no
 * code for. Like RatchetError, each has a stable string `code`; status-codes.ts maps every code to
 * a gRPC status. Messages are shown to API clients: they never contain keys, tokens or bodies.
 */
export type ApiErrorCode =
  /** A request field is missing, malformed or out of range. */
  | 'InvalidArgument'
  /** No contact and no published bundle for that user id. */
  | 'UnknownPeer'
  /** The safety number given to VerifyContact does not match. */
  | 'SafetyNumberMismatch'
  /** An idempotency key was reused for a different message. */
  | 'IdempotencyConflict'
  /** The broker cannot be reached right now; retry later. */
  | 'BrokerUnavailable'
  /** The daemon is starting or shutting down. */
  | 'NotReady'
  /** Missing or wrong bearer token. */
  | 'Unauthenticated'
  /** The client reads the Receive stream too slowly; it may reconnect and resume. */
  | 'SlowConsumer'
  /** The API socket path is taken by a live server or by something that is not a socket. */
  | 'SocketInUse'
  /** The API socket path cannot be used (too long, missing or unwritable directory). */
  | 'SocketPathUnusable';

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ApiError';
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
