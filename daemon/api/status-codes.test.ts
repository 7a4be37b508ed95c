import { describe, expect, it } from 'vitest';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { DecodeError, TrustError } from '../../core/errors.ts';
import { EngineError } from '../engine/errors.ts';
import { RelayError } from '../relay/errors.ts';
import { CorruptRecordError, StoreConfigError, StoreError } from '../store/store.ts';
import { ApiError } from './errors.ts';
import { ERROR_CODE_METADATA_KEY, mapError, toServiceError } from './status-codes.ts';

describe('error code → gRPC status', () => {
  it.each([
    [new DecodeError('not a ratchetd user id'), GrpcStatus.INVALID_ARGUMENT],
    [new ApiError('InvalidArgument', 'body is empty'), GrpcStatus.INVALID_ARGUMENT],
    [new EngineError('UnknownPeer', 'no bundle'), GrpcStatus.NOT_FOUND],
    [new TrustError('UntrustedIdentity', 'identity changed'), GrpcStatus.FAILED_PRECONDITION],
    [new EngineError('IdempotencyConflict', 'reused'), GrpcStatus.ALREADY_EXISTS],
    [new RelayError('BrokerUnavailable', 'down'), GrpcStatus.UNAVAILABLE],
    [new ApiError('Unauthenticated', 'bad token'), GrpcStatus.UNAUTHENTICATED],
    [new CorruptRecordError('peer', 'record 7 failed its MAC'), GrpcStatus.DATA_LOSS],
  ])('%s → %s, keeping the code in the trailers', (error, code) => {
    const mapped = toServiceError(error);
    expect(mapped.code).toBe(code);
    expect(mapped.metadata?.get(ERROR_CODE_METADATA_KEY)).toEqual([error.code]);
  });

  it('passes client-facing messages through', () => {
    expect(mapError(new ApiError('InvalidArgument', 'body is empty')).details).toBe('body is empty');
  });

  it('hides the message of internal errors and of unexpected throws', () => {
    expect(mapError(new StoreError('path /secret/x')).details).not.toContain('/secret');
    expect(mapError(new StoreError('path /secret/x')).code).toBe(GrpcStatus.INTERNAL);
    const unexpected = mapError(new Error('key=abcdef'));
    expect(unexpected).toEqual({ code: GrpcStatus.INTERNAL, errorCode: undefined, details: 'internal error; see the daemon log' });
    expect(mapError('a string').code).toBe(GrpcStatus.INTERNAL);
  });

  it('maps a code without a table entry to INTERNAL', () => {
    const unknown = new StoreConfigError('x');
    Object.defineProperty(unknown, 'code', { value: 'SomethingNew' });
    expect(mapError(unknown).code).toBe(GrpcStatus.INTERNAL);
  });
});
