// In Chromium at 1280×800 and 390×844: every page of every role fits the screen (no sideways scroll), the menu
// opens the navigation and the signed-in name is readable, and Deny is tappable on a phone. Screenshots go to
// test-results/screens/ for review.
import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestRole } from '../helpers/oidc.js';
import { launchBrowser } from '../helpers/browser.js';
import { enrolTotp, openAs, type Person } from '../helpers/e2e-people.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

let browser: Browser;
let h: SshGateway;
const harness = () => ({ ...h, close: async () => undefined });
const secrets: Partial<Record<TestRole, string>> = {};
let pendingId = '';
let sessionId = '';
let liveId = '';
let grantId = '';
let sleeper: Promise<unknown> | undefined;

const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;

beforeAll(async () => {
  h = await startSshGateway();
  browser = await launchBrowser();
  for (const role of ['supervisor', 'auditor'] as const) secrets[role] = await enrolTotp(harness(), role);
  secrets.vendor = h.vendor.totpSecret;
  const pending = await h.grant({
    state: 'pending',
    grantId: undefined,
    purpose: 'update the S7 project on line 2 after the firmware change',
  });
  pendingId = pending.id;
  grantId = (await h.grant()).grantId!;
  const done = await h.ssh(TARGET, { command: 'echo recorded-$((6*7))' });
  expect(done.stdout).toContain('recorded-42');
  sessionId = h.gw.store.data.sessions.at(-1)!.id;
  sleeper = h.ssh(TARGET, { command: 'sleep 120', timeoutMs: 150_000 });
  for (let i = 0; i < 200 && h.gw.liveSessions.list().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  liveId = h.gw.liveSessions.list()[0]!.id;
  await mkdir('test-results/screens', { recursive: true });
}, 90_000);
afterAll(async () => {
  await browser?.close();
  if (liveId) await h.gw.liveSessions.close(liveId, 'terminated');
  await Promise.race([sleeper, new Promise((r) => setTimeout(r, 5000))]);
  await h?.close();
}, 60_000);

const pagesOf = (role: TestRole): string[] => {
  const common = ['/', '/security'];
  if (role === 'vendor')
    return [
      ...common,
      '/keys',
      '/requests/new',
      '/requests',
      `/requests/${pendingId}`,
      '/sessions',
      `/sessions/${sessionId}`,
      `/connect/${grantId}`,
    ];
  const oversee = [
    '/approvals',
    '/sessions',
    `/sessions/${sessionId}`,
    `/sessions/${sessionId}/commands`,
    `/sessions/${liveId}/watch`,
    '/commands',
    `/requests/${pendingId}`,
  ];
  if (role === 'supervisor') return [...common, ...oversee, '/approvals/history', '/approvals/history?state=pending'];
  return [...common, ...oversee, '/approvals/history', '/audit', '/audit?checkpoints=true', '/evidence'];
};

/** What sticks out past the right edge: the outermost such elements, described for the failure message. */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      if (r.right <= width + 1 || r.width === 0) continue;
      if (el.parentElement && el.parentElement.getBoundingClientRect().right > width + 1) continue;
      out.push(
        `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${Array.from(el.classList).join('.')} right=${Math.round(r.right)}`,
      );
    }
    return out;
  });

async function settle(p: Person, path: string): Promise<void> {
  await p.page.goto(`${h.url}${path}`);
  // Rendered: the frame replaced "Loading…" and the page's own fetches have filled in (no Loading… left in main).
  await p.page.waitForFunction(() => {
    const main = document.querySelector('main');
    return !!main && main.childElementCount > 0 && !main.textContent?.includes('Loading…');
  });
  if (await p.page.locator('#stepup-dialog').count()) await p.page.keyboard.press('Escape');
}

describe('every page on a desktop and on a phone', () => {
  // Admins see the union of the supervisor's and the auditor's pages: those two cover every overseer page.
  for (const role of ['vendor', 'supervisor', 'auditor'] as const) {
    it(`${role}: no sideways scroll, navigation reachable`, async () => {
      const p = await openAs(browser, harness(), role, secrets[role]!, '/');
      const problems: string[] = [];
      try {
        for (const vp of VIEWPORTS) {
          await p.page.setViewportSize({ width: vp.width, height: vp.height });
          for (const path of pagesOf(role)) {
            await settle(p, path);
            const wide = await overflow(p.page);
            if (wide.length) problems.push(`${vp.name} ${path}: ${wide.slice(0, 4).join(', ')}`);
            const file = `${role}-${vp.name}${path.replace(/[^a-z0-9]+/gi, '_')}.png`;
            await p.page.screenshot({ path: `test-results/screens/${file}`, fullPage: vp.name === 'phone' });
          }
          // The navigation: in the bar on a desktop, behind the menu button on a phone.
          const nav = p.page.locator('#nav a').first();
          if (vp.name === 'phone') {
            expect(await nav.isVisible()).toBe(false);
            await p.page.locator('#menu-toggle').click();
          }
          expect(await nav.isVisible()).toBe(true);
          const name = p.page.locator('#who-name');
          expect(await name.isVisible()).toBe(true);
          expect(await name.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(255, 255, 255)');
          if (vp.name === 'phone') await p.page.screenshot({ path: `test-results/screens/${role}-phone-menu.png` });
        }
        expect(problems).toEqual([]);
        expect(p.errors.filter((e) => !e.includes('dialog'))).toEqual([]);
      } finally {
        await p.context.close();
      }
    }, 180_000);
  }

  it('supervisor on a phone: Approve and Deny are on screen and tappable', async () => {
    const p = await openAs(browser, harness(), 'supervisor', secrets.supervisor!, '/approvals');
    try {
      await p.page.setViewportSize({ width: 390, height: 844 });
      await expect.poll(() => p.page.evaluate(() => document.body.dataset.live), { timeout: 10_000 }).toBe('open');
      const deny = p.page.locator(`#deny-${pendingId}`);
      await deny.click({ trial: true });
      const box = (await deny.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(box.height).toBeGreaterThanOrEqual(40);
      await deny.click({ trial: true });
      await deny.click();
      await p.page.locator(`#deny-reason-${pendingId}`).waitFor();
      await p.page.screenshot({ path: 'test-results/screens/supervisor-phone-deny.png' });
    } finally {
      await p.context.close();
    }
  }, 60_000);

  it('on a phone: the Home count is a tappable link, an opened raw audit record and the history stay on screen', async () => {
    const sup = await openAs(browser, harness(), 'supervisor', secrets.supervisor!, '/');
    const aud = await openAs(browser, harness(), 'auditor', secrets.auditor!, '/audit');
    try {
      await sup.page.setViewportSize({ width: 390, height: 844 });
      const link = sup.page.locator('#home-pending-link');
      await sup.page.locator('#home-pending[data-count="1"]').waitFor();
      const box = (await link.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(box.height).toBeGreaterThanOrEqual(40);
      await link.click();
      await sup.page.waitForURL(/\/approvals$/);
      await settle(sup, '/approvals/history');
      expect(await overflow(sup.page)).toEqual([]);

      await aud.page.setViewportSize({ width: 390, height: 844 });
      await settle(aud, '/audit');
      await aud.page.locator('#audit-body details.raw summary').first().click();
      expect(await aud.page.locator('#audit-body details.raw pre').first().isVisible()).toBe(true);
      expect(await overflow(aud.page)).toEqual([]);
      await aud.page.screenshot({ path: 'test-results/screens/auditor-phone-audit-raw.png', fullPage: true });
    } finally {
      await sup.context.close();
      await aud.context.close();
    }
  }, 60_000);

  it('vendor: a pasted private key is refused in the browser and never sent', async () => {
    const p = await openAs(browser, harness(), 'vendor', secrets.vendor!, '/keys');
    try {
      const posted: string[] = [];
      p.page.on('request', (r) => {
        if (r.method() === 'POST') posted.push(`${r.url()} ${r.postData() ?? ''}`);
      });
      await p.page
        .locator('#key-line')
        .fill('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----');
      await p.page.locator('#key-add').click();
      await expect
        .poll(() => p.page.locator('#key-error').textContent())
        .toContain('That is a PRIVATE key. It was not sent');
      expect(await p.page.locator('#key-error').textContent()).toContain('Treat that key as exposed');
      expect(await p.page.locator('#key-line').inputValue()).toBe('');
      expect(posted).toEqual([]);
    } finally {
      await p.context.close();
    }
  }, 60_000);
});
