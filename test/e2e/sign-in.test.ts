// In Chromium: sign in through the provider's real pages, enrol TOTP from the shown secret, step up, sign out.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { oathCode } from '../helpers/totp.js';
import { type AuthHarness, startAuthHarness } from '../helpers/web-login.js';

let browser: Browser;
let h: AuthHarness;

beforeAll(async () => {
  h = await startAuthHarness();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('sign-in in the browser', () => {
  it('signs in, enrols TOTP from the shown secret, steps up and signs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Refused calls (401 before sign-in, 400 for the replayed code) are expected; script errors are not.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    try {
      await page.goto(`${h.url}/security`);
      await page.locator('#signin-button').click();
      // The provider's own login page.
      await page.getByLabel('Username').fill(h.idp.users.vendor.login);
      await page.getByLabel('Password').fill(h.idp.users.vendor.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      // Back on the gateway, at the page we asked for (returnTo kept).
      await page.waitForURL(`${h.url}/security`);
      await expect(page.locator('#who-name').textContent()).resolves.toContain(h.idp.users.vendor.name);

      await page.locator('#totp-start').click();
      const shown = (await page.locator('#totp-secret').textContent()) ?? '';
      const secret = shown.replace(/\s+/g, '');
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(await page.locator('#totp-qr').getAttribute('src')).toMatch(/^data:image\/svg\+xml;base64,/);
      await page.locator('#totp-code').fill(oathCode(secret));
      await page.locator('#totp-confirm button[type=submit]').click();
      await page.locator('#totp-enrolled').waitFor();

      // Step up with a code from the next time step (the confirming step can never be used again).
      await page.goto(`${h.url}/`);
      await page.locator('#stepup-now').click();
      const later = Date.now() + 30_000;
      await page.locator('#stepup-code').fill(oathCode(secret, later));
      await page.locator('#stepup-submit').click();
      // One step of clock drift is allowed, so the next step's code is accepted now.
      await page.locator('#stepup-until').filter({ hasText: 'Verified until' }).waitFor();

      // A replayed code is refused in the dialog.
      await page.locator('#stepup-now').click();
      await page.locator('#stepup-code').fill(oathCode(secret, later));
      await page.locator('#stepup-submit').click();
      await page.locator('#stepup-error').filter({ hasText: 'already used' }).waitFor();
      await page.getByRole('button', { name: 'Cancel' }).click();

      await page.locator('#signout').click();
      await page.locator('#signin-button').waitFor();
      const me = await context.request.get(`${h.url}/api/me`);
      expect(me.status()).toBe(401);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
