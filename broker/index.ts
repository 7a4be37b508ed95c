/** The blind relay: createBroker(config) → { start, close }. */
export { createBroker } from './broker.ts';
export type { BrokerAddress, RelayBroker } from './broker.ts';
export { BrokerConfigError, DEFAULT_MAX_PAYLOAD_BYTES, resolveBrokerConfig } from './config.ts';
export type { BrokerConfig, PersistenceKind } from './config.ts';
export type { BrokerStats } from './broker-stats.ts';
export { registerBrokerMetrics } from './metrics.ts';
