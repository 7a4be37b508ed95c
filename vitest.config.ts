import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['daemon/**/*.test.ts', 'broker/**/*.test.ts', 'bots/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests drive real processes (broker, daemons, mosquitto, redis-server) and were
    // seen to flake about once in three full runs on a 2-core machine (a CONNACK timeout, a late
    // re-handshake); a failing test is run once more and must then pass. Deterministic unit tests
    // (fixed seeds) are unaffected. Tracked as known flakiness to remove, not as a fix.
    retry: 1,
  },
});
