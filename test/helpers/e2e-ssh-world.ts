// The browser SSH tests' world for one test file: a gateway with a real sshd, Chromium, and a supervisor with TOTP.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchBrowser } from './browser.js';
import { enrolTotp } from './e2e-people.js';
import { type SshGateway, startSshGateway } from './ssh-gateway.js';

export interface E2eSshWorld {
  h: SshGateway;
  browser: Browser;
  supervisorSecret: string;
  /** The gateway as openAs/enrolTotp take it (closing stays with the world). */
  harness(): SshGateway & { close(): Promise<void> };
}

/** Starts the world in beforeAll and stops it in afterAll; read its fields inside tests. */
export function useE2eSshWorld(): E2eSshWorld {
  const world = { harness: () => ({ ...world.h, close: async () => undefined }) } as E2eSshWorld;
  beforeAll(async () => {
    world.h = await startSshGateway();
    world.browser = await launchBrowser();
    world.supervisorSecret = await enrolTotp(world.harness(), 'supervisor');
  }, 60_000);
  afterAll(async () => {
    await world.browser?.close();
    await world.h?.close();
  });
  return world;
}
