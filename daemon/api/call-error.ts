/**
 * The error every MessengerClient call rejects with when the daemon answers with a gRPC status:
 * the status, its name, the precise ratchetd error code from the trailers, and the message.
 */
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODE_METADATA_KEY } from './status-codes.ts';

export class ApiCallError extends Error {
  /** gRPC status code. */
  readonly code: grpc.status;
  /** gRPC status name, e.g. "INVALID_ARGUMENT". */
  readonly statusName: string;
  /** ratchetd error code from the trailers, e.g. "UntrustedIdentity", when the daemon sent one. */
  readonly errorCode: string | undefined;
  readonly details: string;
  constructor(code: grpc.status, details: string, errorCode: string | undefined) {
    const statusName = grpc.status[code] ?? `STATUS_${code}`;
    super(`${statusName}: ${details}`);
    this.name = 'ApiCallError';
    this.code = code;
    this.statusName = statusName;
    this.errorCode = errorCode;
    this.details = details;
  }
}

/** A grpc-js ServiceError as an ApiCallError; anything else unchanged (as an Error). */
export function toCallError(e: unknown): Error {
  const err = e as Partial<grpc.ServiceError>;
  if (typeof err.code !== 'number') return e instanceof Error ? e : new Error(String(e));
  const value = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  return new ApiCallError(err.code, err.details ?? err.message ?? '', typeof value === 'string' ? value : undefined);
}
