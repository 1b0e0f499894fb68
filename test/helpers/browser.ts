// Headless Debian Chromium through playwright-core, with the flags this air-gapped machine needs.
import { type Browser, chromium, type Page } from 'playwright-core';
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

/** The colour of one pixel of a remote screen as drawn (the first canvas under `sel`). Page code as text: tests have no DOM types. */
export const pixel = (page: Page, sel: string) =>
  page.evaluate<number[] | undefined>(`(() => {
    const canvas = [...document.querySelectorAll(${JSON.stringify(`${sel} canvas`)})].find((c) => c.width > 0);
    const d = canvas && canvas.getContext('2d').getImageData(10, 10, 1, 1).data;
    return d ? [d[0], d[1], d[2]] : undefined;
  })()`);
