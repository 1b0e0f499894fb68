// Browser-test people: TOTP enrolled through the API (secret kept for oathtool), then signed into Chromium via the IdP's pages.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestRole } from './oidc.js';
import { oathCode } from './totp.js';
import { type AuthHarness, signIn } from './web-login.js';

export interface Person {
  role: TestRole;
  secret: string;
  context: BrowserContext;
  page: Page;
  /** Script errors, console errors (other than refused resources) and any alert() the page raised. */
  errors: string[];
}

/** Enrols TOTP for `role` in a throw-away web session; returns the base32 secret. */
export async function enrolTotp(h: AuthHarness, role: TestRole): Promise<string> {
  const { browser, me } = await signIn(h, role);
  const post = async (path: string, body?: unknown) => {
    const res = await browser.fetch(path, {
      method: 'POST',
      headers: { 'x-csrf-token': me.csrfToken, 'content-type': 'application/json', origin: h.url },
      body: JSON.stringify(body ?? {}),
    });
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const { secret } = (await post('/api/me/totp/enroll')) as { secret: string };
  await post('/api/me/totp/confirm', { code: oathCode(secret) });
  return secret;
}

/** A new browser context for `role`, signed in through the provider's real login form, at `path`. */
export async function openAs(
  browser: Browser,
  h: AuthHarness,
  role: TestRole,
  secret: string,
  path: string,
): Promise<Person> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    errors.push(`dialog: ${d.type()} ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(`${h.url}${path}`);
  await page.locator('#signin-button').click();
  await page.getByLabel('Username').fill(h.idp.users[role].login);
  await page.getByLabel('Password').fill(h.idp.users[role].password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${h.url}${path}`);
  return { role, secret, context, page, errors };
}

/**
 * Answers the step-up dialog with a code from the next time step: the enrolment used the current one,
 * and a step once accepted is never accepted again (one step of drift is allowed, so this one passes now).
 */
export async function answerStepUp(p: Person): Promise<void> {
  await p.page.locator('#stepup-dialog').waitFor();
  await p.page.locator('#stepup-code').fill(oathCode(p.secret, Date.now() + 30_000));
  await p.page.locator('#stepup-submit').click();
  await p.page.locator('#stepup-dialog').waitFor({ state: 'detached' });
}
