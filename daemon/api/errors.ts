/**
 * Errors of the local API layer itself (request validation, transport, authentication). The engine,
 * relay, store and protocol core throw their own typed errors; status-codes.ts maps every layer's
 * codes to gRPC statuses. Messages are shown to API clients: they never contain keys, tokens or bodies.
 */
import { CodedError } from '../../core/errors.ts';

export type ApiErrorCode =
  /** A request field is missing, malformed or out of range. */
  | 'InvalidArgument'
  /** The API server is starting or shutting down. */
  | 'NotReady'
  /** Missing or wrong bearer token. */
  | 'Unauthenticated'
  /** The client reads the Receive stream too slowly; it may reconnect and resume. */
  | 'SlowConsumer'
  /** The API socket path is taken by a live server or by something that is not a socket. */
  | 'SocketInUse'
  /** The API socket path cannot be used (too long, missing or unwritable directory). */
  | 'SocketPathUnusable'
  /** A method or field the schema has and this daemon does not serve yet (groups, until wired in). */
  | 'Unimplemented';

export class ApiError extends CodedError<ApiErrorCode> {}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
