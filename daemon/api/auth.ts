/**
 * Bearer-token authentication for the TCP listener: every call must carry the metadata
 * `authorization: Bearer <token>`. Tokens are compared in constant time (over SHA-256 digests, so
 * the length of the expected token does not leak either). The Unix socket relies on its file mode
 * (0600) instead and has no interceptor.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerInterceptingCall, status as GrpcStatus, Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { ApiError } from './errors.ts';
import { ERROR_CODE_METADATA_KEY } from './status-codes.ts';
import { MIN_TOKEN_LENGTH } from './token-file.ts';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time check of an `authorization` header value against the expected token. */
export function isAuthorized(header: unknown, expectedToken: string): boolean {
  if (typeof header !== 'string') return false;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  const presented = match?.[1] ?? '';
  // Always compare, even for a malformed header, so timing says nothing about the format.
  const ok = timingSafeEqual(digest(presented), digest(expectedToken));
  return ok && presented !== '';
}

export function bearerTokenInterceptor(expectedToken: string): ServerInterceptor {
  if (expectedToken.length < MIN_TOKEN_LENGTH) throw new ApiError('Unauthenticated', `API token must be at least ${MIN_TOKEN_LENGTH} characters`);
  return (_method, call) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const header = metadata.get('authorization')[0];
            if (isAuthorized(header, expectedToken)) return nextMetadata(metadata);
            const trailer = new Metadata();
            trailer.set(ERROR_CODE_METADATA_KEY, 'Unauthenticated');
            return call.sendStatus({
              code: GrpcStatus.UNAUTHENTICATED,
              details: header === undefined ? 'missing authorization metadata (Bearer token)' : 'invalid bearer token',
              metadata: trailer,
            });
          },
        });
      },
    });
}
