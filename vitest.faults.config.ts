import { defineConfig } from 'vitest/config';

// `npm run test:faults`: the long kill -9 runs (test/faults/*.faults.ts). Their file names do not
// end in .test.ts, so `npm test` (vitest.config.ts) does not pick them up.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.faults.ts'],
    testTimeout: 330_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
