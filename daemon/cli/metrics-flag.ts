/**
 * `--metrics HOST:PORT` for the long-running commands: a registry of this process
 * (daemon/metrics/registry.ts), the command's collectors on it, and the HTTP listener
 * (daemon/metrics/endpoint.ts). A port in use or refused is one clear CliFailure line. Loaded only
 * when --metrics is given (prom-client is not needed otherwise).
 */
import type { Registry } from 'prom-client';
import type { BrokerStats } from '../../broker/broker-stats.ts';
import { registerBrokerMetrics } from '../../broker/metrics.ts';
import type { ApiCallObserver } from '../api/call-observer.ts';
import { registerApiCallMetrics } from '../metrics/api-calls.ts';
import { registerDaemonMetrics, type EngineMetricsSource } from '../metrics/daemon-metrics.ts';
import { startMetricsEndpoint } from '../metrics/endpoint.ts';
import { createMetricsRegistry } from '../metrics/registry.ts';
import { CliFailure } from './args.ts';

export interface RunningMetrics<T> {
  /** http://HOST:PORT/metrics, for the ready line. */
  readonly url: string;
  /** What `register` returned (e.g. the API-call observer). */
  readonly registered: T;
  close(): Promise<void>;
}

interface MetricsLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export async function startMetrics<T>(
  component: 'daemon' | 'broker',
  address: { host: string; port: number },
  logger: MetricsLogger,
  register: (registry: Registry) => T,
): Promise<RunningMetrics<T>> {
  const registry = createMetricsRegistry(component);
  const registered = register(registry);
  try {
    const endpoint = await startMetricsEndpoint({ ...address, registry, logger });
    return { url: endpoint.url, registered, close: () => endpoint.close() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const where = `${address.host}:${address.port}`;
    if (code === 'EADDRINUSE') throw new CliFailure(`--metrics: ${where} is already in use (try --metrics 0 for a free port)`, { cause: e });
    if (code === 'EACCES') throw new CliFailure(`--metrics: not allowed to listen on ${where}`, { cause: e });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new CliFailure(`--metrics: no such local address ${address.host}`, { cause: e });
    throw e;
  }
}

/** The daemon's metrics; `registered` is the API server's call observer. */
export function startDaemonMetrics(address: { host: string; port: number }, logger: MetricsLogger, source: EngineMetricsSource): Promise<RunningMetrics<ApiCallObserver>> {
  return startMetrics('daemon', address, logger, (registry) => {
    registerDaemonMetrics(registry, source);
    return registerApiCallMetrics(registry);
  });
}

export function startBrokerMetrics(address: { host: string; port: number }, logger: MetricsLogger, stats: BrokerStats): Promise<RunningMetrics<void>> {
  return startMetrics('broker', address, logger, (registry) => registerBrokerMetrics(registry, stats));
}
