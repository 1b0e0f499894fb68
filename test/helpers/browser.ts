// Headless Debian Chromium through playwright-core, with the flags this air-gapped machine needs.
import { type Browser, chromium } from 'playwright-core';
import { requireBinary } from './sshd.js';

export const CHROMIUM = '/usr/bin/chromium';

/** A fresh headless browser (launch() uses a new temporary profile); close it in afterAll. */
export async function launchBrowser(): Promise<Browser> {
  requireBinary(CHROMIUM, 'chromium');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    // Without the background-networking flags Chromium keeps dialling Google on a closed network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
