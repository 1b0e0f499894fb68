import { defineConfig } from 'vitest/config';

// Integration and browser tests start real peers (sshd, Chromium, an OIDC provider): give them
// room, and keep files in separate processes so a killed child or a port never leaks across files.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Needs a real guacd and RDP server (not installable here): `npm run test:guacd` (vitest.guacd.config.ts).
    exclude: ['test/real-guacd/**', 'test/measure/**', '**/node_modules/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
