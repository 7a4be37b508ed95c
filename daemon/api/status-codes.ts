/**
 * The one table from error codes — of the protocol core (RatchetError), the store, the relay client,
 * the engine and this layer (ApiError), all CodedErrors — to gRPC status codes, and the conversion
 * of any thrown value into the status a client sees. Unknown failures become INTERNAL with a
 * generic message; the detail goes to the daemon's log only.
 */
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { isCodedError, type ErrorCode } from '../../core/errors.ts';
import type { EngineErrorCode } from '../engine/errors.ts';
import type { RelayErrorCode } from '../relay/errors.ts';
import type { StoreErrorCode } from '../store/store.ts';
import type { HttpErrorCode } from '../http/errors.ts';
import type { ApiErrorCode } from './errors.ts';
import type { FileTransferErrorCode } from '../engine/files/file-errors.ts';
import type { GroupErrorCode } from '../../core/group/errors.ts';

type AnyErrorCode =
  | ErrorCode
  | StoreErrorCode
  | RelayErrorCode
  | EngineErrorCode
  | ApiErrorCode
  | HttpErrorCode
  | FileTransferErrorCode
  | GroupErrorCode;

/** Trailing metadata key carrying the precise ratchetd error code. */
export const ERROR_CODE_METADATA_KEY = 'ratchetd-error-code';

/**
 * Partial on purpose: a code added elsewhere later must not break the build; until it gets a line
 * here it maps to INTERNAL.
 */
export const STATUS_BY_CODE: Readonly<Partial<Record<AnyErrorCode, GrpcStatus>>> = {
  // request validation (the API layer parses user ids with parseUserId, which throws DecodeError)
  DecodeError: GrpcStatus.INVALID_ARGUMENT,
  UnsupportedVersion: GrpcStatus.INVALID_ARGUMENT,
  InvalidKey: GrpcStatus.INVALID_ARGUMENT,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  MessageTooLarge: GrpcStatus.INVALID_ARGUMENT,
  // the peer
  UnknownPeer: GrpcStatus.NOT_FOUND,
  // groups: only the owner changes the member list; a send to a group left or removed from
  UnknownGroup: GrpcStatus.NOT_FOUND,
  NotGroupOwner: GrpcStatus.PERMISSION_DENIED,
  NotGroupMember: GrpcStatus.FAILED_PRECONDITION,
  GroupTooLarge: GrpcStatus.INVALID_ARGUMENT,
  InvalidGroupChange: GrpcStatus.INVALID_ARGUMENT,
  TooManyGroups: GrpcStatus.RESOURCE_EXHAUSTED,
  // a peer's bundle that cannot be used: retrying later may find a fresh one
  StaleBundle: GrpcStatus.UNAVAILABLE,
  FutureBundle: GrpcStatus.UNAVAILABLE,
  StalePrekey: GrpcStatus.UNAVAILABLE,
  // a peer's bundle or session that is wrong: nothing the caller can retry
  BadSignature: GrpcStatus.FAILED_PRECONDITION,
  RolledBackBundle: GrpcStatus.FAILED_PRECONDITION,
  DowngradedBundle: GrpcStatus.FAILED_PRECONDITION,
  DowngradedHandshake: GrpcStatus.FAILED_PRECONDITION,
  ReplayedHandshake: GrpcStatus.FAILED_PRECONDITION,
  WrongRecipient: GrpcStatus.FAILED_PRECONDITION,
  TooFarAhead: GrpcStatus.FAILED_PRECONDITION,
  BadMessage: GrpcStatus.FAILED_PRECONDITION,
  NoSession: GrpcStatus.FAILED_PRECONDITION,
  SessionExhausted: GrpcStatus.FAILED_PRECONDITION,
  // trust: a changed identity is blocked until VerifyContact approves it
  UntrustedIdentity: GrpcStatus.FAILED_PRECONDITION,
  SafetyNumberMismatch: GrpcStatus.FAILED_PRECONDITION,
  IdentityMismatch: GrpcStatus.FAILED_PRECONDITION,
  // the broker refused the daemon's CONNECT proof (clock skew, replay): retry later
  StaleProof: GrpcStatus.UNAVAILABLE,
  FutureProof: GrpcStatus.UNAVAILABLE,
  ReplayedProof: GrpcStatus.UNAVAILABLE,
  // duplicates
  Duplicate: GrpcStatus.ALREADY_EXISTS,
  IdempotencyConflict: GrpcStatus.ALREADY_EXISTS,
  // availability
  BrokerUnavailable: GrpcStatus.UNAVAILABLE,
  SessionSetupRaced: GrpcStatus.UNAVAILABLE,
  NotReady: GrpcStatus.UNAVAILABLE,
  SlowConsumer: GrpcStatus.RESOURCE_EXHAUSTED,
  // files (daemon/engine/files/file-errors.ts)
  FileQuotaExceeded: GrpcStatus.RESOURCE_EXHAUSTED,
  AttachmentNotFound: GrpcStatus.NOT_FOUND,
  InvalidFile: GrpcStatus.INVALID_ARGUMENT,
  // auth
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
  // the schema is ahead of this daemon (groups, until the engine serves them)
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  // the HTTP adapter (daemon/http/errors.ts); 413, 415, 404 and 416 are refined in HTTP_STATUS_BY_CODE
  MalformedJson: GrpcStatus.INVALID_ARGUMENT,
  MalformedRequest: GrpcStatus.INVALID_ARGUMENT,
  BodyTooLarge: GrpcStatus.RESOURCE_EXHAUSTED,
  UnsupportedMediaType: GrpcStatus.INVALID_ARGUMENT,
  RouteNotFound: GrpcStatus.UNIMPLEMENTED,
  RangeNotSatisfiable: GrpcStatus.OUT_OF_RANGE,
  // with a webhook configured, only the webhook acks
  AckOwnedByWebhook: GrpcStatus.FAILED_PRECONDITION,
  // the daemon's own state
  CorruptRecord: GrpcStatus.DATA_LOSS,
  StoreError: GrpcStatus.INTERNAL,
  ConfigError: GrpcStatus.INTERNAL,
  SocketInUse: GrpcStatus.INTERNAL,
  SocketPathUnusable: GrpcStatus.INTERNAL,
};

/** Codes whose message is about the daemon's internals: clients get a generic message instead. */
const HIDDEN_DETAIL = new Set<string>(['CorruptRecord', 'StoreError', 'ConfigError', 'SocketInUse', 'SocketPathUnusable']);

export interface MappedError {
  code: GrpcStatus;
  /** The ratchetd error code, or undefined for an unexpected failure. */
  errorCode: string | undefined;
  details: string;
}

/** Classifies any thrown value; never exposes the message of an unexpected error. */
export function mapError(e: unknown): MappedError {
  if (isCodedError(e)) {
    const code = (STATUS_BY_CODE as Readonly<Record<string, GrpcStatus>>)[e.code] ?? GrpcStatus.INTERNAL;
    const details = HIDDEN_DETAIL.has(e.code) || code === GrpcStatus.INTERNAL
      ? `internal error (${e.code}); see the daemon log`
      : e.message;
    return { code, errorCode: e.code, details };
  }
  return { code: GrpcStatus.INTERNAL, errorCode: undefined, details: 'internal error; see the daemon log' };
}

/**
 * The HTTP status of each gRPC status (the HTTP API's errors: daemon/http). Google's mapping
 * (google.rpc.Code), except FAILED_PRECONDITION → 412, as the HTTP API contract says.
 */
export const HTTP_STATUS_BY_GRPC: Readonly<Record<GrpcStatus, number>> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 499,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 412,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

/** HTTP-only refinements: codes whose HTTP status says more than their gRPC status's does. */
export const HTTP_STATUS_BY_CODE: Readonly<Partial<Record<AnyErrorCode, number>>> = {
  BodyTooLarge: 413,
  UnsupportedMediaType: 415,
  RouteNotFound: 404,
  RangeNotSatisfiable: 416,
};

/** An error as the HTTP API answers it: the status and the JSON body `{code, errorCode, message}`. */
export interface HttpMappedError {
  status: number;
  body: { code: string; errorCode: string; message: string };
}

/** Classifies any thrown value for an HTTP answer (the same classification as mapError). */
export function mapHttpError(e: unknown): HttpMappedError {
  const mapped = mapError(e);
  const refined = mapped.errorCode === undefined ? undefined : (HTTP_STATUS_BY_CODE as Readonly<Record<string, number>>)[mapped.errorCode];
  return {
    status: refined ?? HTTP_STATUS_BY_GRPC[mapped.code],
    body: { code: GrpcStatus[mapped.code], errorCode: mapped.errorCode ?? 'Internal', message: mapped.details },
  };
}

/** A grpc-js ServiceError for a callback or a stream's 'error' event. */
export function toServiceError(e: unknown): Partial<ServiceError> & { code: GrpcStatus; details: string } {
  const mapped = mapError(e);
  const metadata = new Metadata();
  if (mapped.errorCode !== undefined) metadata.set(ERROR_CODE_METADATA_KEY, mapped.errorCode);
  return { code: mapped.code, details: mapped.details, message: mapped.details, metadata, name: 'ServiceError' };
}
