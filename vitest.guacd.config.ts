import { defineConfig } from 'vitest/config';

// `npm run test:guacd`: only the tests against a real guacd and RDP server, named by GUACD_HOST, RDP_TEST_HOST,
// RDP_TEST_USER, RDP_TEST_PASSWORD (docs/guacd.md). Not part of `npm test`.
export default defineConfig({
  test: {
    include: ['test/real-guacd/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest-guacd.json' },
  },
});
