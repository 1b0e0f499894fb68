// ssh2's native crypto addon is built at install; without it relay throughput and setup fall sharply.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

describe('ssh2 native crypto binding', () => {
  it('is built and loaded', () => {
    const crypto = require('ssh2/lib/protocol/crypto.js') as { bindingAvailable: boolean };
    expect(crypto.bindingAvailable).toBe(true);
  });
});
