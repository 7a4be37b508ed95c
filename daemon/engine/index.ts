/** The daemon engine: createDaemon and its configuration. */
export { createDaemon, type Daemon } from './daemon.ts';
export { DEFAULT_TIMING, type DaemonConfig, type EngineTiming } from './config.ts';
export type { EngineMetrics } from './engine-metrics.ts';
export type { HealthSource } from './health.ts';
