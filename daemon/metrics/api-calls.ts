/** The API-call metric: one counter fed by the API server's call observer (daemon/api/call-observer.ts). */
import { Counter, type Registry } from 'prom-client';
import type { ApiCallObserver } from '../api/call-observer.ts';

export function registerApiCallMetrics(registry: Registry): ApiCallObserver {
  const calls = new Counter({
    name: 'ratchetd_api_calls_total',
    help: 'Local API calls finished, by gRPC service, method and status code (OK, INVALID_ARGUMENT, UNAVAILABLE, CANCELLED, ...).',
    labelNames: ['service', 'method', 'code'],
    registers: [registry],
  });
  return ({ service, method, code }) => calls.inc({ service, method, code });
}
