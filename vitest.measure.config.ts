import { defineConfig } from 'vitest/config';

// Measurements that print figures rather than assert behaviour (test/measure/): run one by name, on a quiet
// machine, never as part of `npm test`. Rates belong in `npm run bench`; these need a whole cluster to set up.
export default defineConfig({
  test: {
    include: ['test/measure/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
