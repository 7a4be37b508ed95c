/**
 * A Prometheus registry for one process (prom-client's default registry is a module-level global:
 * never used). It carries prom-client's process and Node.js metrics — CPU, memory, heap, event-loop
 * lag, GC, file descriptors — under the same ratchetd_ prefix as ours (so every name on /metrics
 * starts with ratchetd_: ratchetd_process_cpu_seconds_total, ratchetd_nodejs_heap_size_used_bytes,
 * …), and ratchetd_build_info.
 */
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export const METRIC_PREFIX = 'ratchetd_';
const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** This package's version (package.json two levels up, from the sources and from lib/js alike). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `component` is "daemon" or "broker": a label of ratchetd_build_info. */
export function createMetricsRegistry(component: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  // Gauges named like counters (promtool: non-counter metrics should not have "_total" suffix);
  // the same numbers by type stay: ratchetd_nodejs_active_handles{type}, …_requests, …_resources.
  for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
  const info = new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: 'Always 1; the labels say which ratchetd runs: version, component (daemon or broker) and Node.js version.',
    labelNames: ['version', 'component', 'nodejs_version'],
    registers: [registry],
  });
  info.set({ version: packageVersion(), component, nodejs_version: process.versions.node }, 1);
  return registry;
}
