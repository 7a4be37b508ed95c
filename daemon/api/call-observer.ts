/**
 * One place that sees every API call end: a server interceptor that reports each call's service,
 * method and final gRPC status (for the API-call metrics: daemon/metrics/api-calls.ts). It sits
 * innermost, so calls the bearer-token interceptor refuses (UNAUTHENTICATED) are reported too. Labels
 * come from the server's registered methods only (bounded); a call cancelled by its client reports
 * CANCELLED. Nothing about the request or the caller is reported.
 */
import { ServerInterceptingCall, status as GrpcStatus, type ServerInterceptor } from '@grpc/grpc-js';

export interface ApiCallOutcome {
  /** e.g. "ratchetd.v1.Messenger", "grpc.health.v1.Health" */
  readonly service: string;
  /** e.g. "Send" */
  readonly method: string;
  /** The gRPC status name, e.g. "OK", "INVALID_ARGUMENT". */
  readonly code: string;
}

export type ApiCallObserver = (call: ApiCallOutcome) => void;

const UNKNOWN = 'unknown';

function statusName(code: number): string {
  return (GrpcStatus as unknown as Record<number, string | undefined>)[code] ?? UNKNOWN;
}

/** "/pkg.Service/Method" → its parts, for a path of `known` only (anything else: "unknown"). */
function splitPath(path: string, known: ReadonlySet<string>): { service: string; method: string } {
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!known.has(path) || match === null) return { service: UNKNOWN, method: UNKNOWN };
  return { service: match[1] ?? UNKNOWN, method: match[2] ?? UNKNOWN };
}

export function callObserverInterceptor(knownPaths: ReadonlySet<string>, observe: ApiCallObserver): ServerInterceptor {
  return (methodDescriptor, call) => {
    const { service, method } = splitPath(methodDescriptor.path, knownPaths);
    let reported = false;
    const report = (code: number): void => {
      if (reported) return;
      reported = true;
      observe({ service, method, code: statusName(code) });
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onCancel() {
            report(GrpcStatus.CANCELLED); // grpc-js tells the next listener itself
          },
        });
      },
      sendStatus(status, next) {
        report(status.code);
        next(status);
      },
    });
  };
}
