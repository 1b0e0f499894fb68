// In Chromium: a supervisor watching a browser-terminal session sees the vendor's "command blocked" notice and an
// alert marker the moment the vendor's command is judged; a supervisor on another page gets the alert in the header.
import { mkdir } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { answerStepUp, enrolTotp, openAs } from '../helpers/e2e-people.js';
import { type SshGateway, startSshGateway } from '../helpers/ssh-gateway.js';

let browser: Browser;
let h: SshGateway;
let supervisorSecret: string;
const harness = () => ({ ...h, close: async () => undefined });

beforeAll(async () => {
  h = await startSshGateway({
    target: {
      commands: {
        mode: 'enforce',
        rules: [
          { match: '^\\s*(shutdown|reboot|halt)\\b', action: 'block', reason: 'stops the line' },
          { match: '\\bplc\\s+(download|stop)\\b', action: 'alert', reason: 'changes PLC state' },
        ],
      },
    },
  });
  browser = await launchBrowser();
  supervisorSecret = await enrolTotp(harness(), 'supervisor');
  await mkdir('test-results', { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('live view: what the vendor sees, and alerts', () => {
  it('a watcher sees the block notice and the alert marker when the vendor does; other pages get the alert', async () => {
    const grant = await h.grant();
    const vendor = await openAs(browser, harness(), 'vendor', h.vendor.totpSecret, `/connect/${grant.grantId}`);
    const vp = vendor.page;
    await answerStepUp(vendor);
    await vp.locator('#term-status.ok').waitFor();
    const rows = vp.locator('#terminal .xterm-rows');
    await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toMatch(/[#$]\s*$/m);
    const sessionId = h.gw.liveSessions.list()[0]!.id;

    const watcher = await openAs(browser, harness(), 'supervisor', supervisorSecret, `/sessions/${sessionId}/watch`);
    const wp = watcher.page;
    await wp.locator('#watch-status.ok').waitFor();
    // The heading names the vendor as the rest of the UI does (name, company) and the target by its name, never by ids.
    const person = h.gw.store.data.users.find((u) => u.id === h.vendor.me.id)!;
    const target = h.gw.config.targets.find((t) => t.id === grant.targetId)!;
    const heading = wp.locator('#watch-heading');
    await expect
      .poll(() => heading.textContent(), { timeout: 10_000 })
      .toBe(`Live: ${person.name} (${person.org || person.email}) on ${target.name}`);
    expect(await heading.textContent()).not.toContain(person.id);
    // A second supervisor tab elsewhere in the app: the alert must reach it too.
    const elsewhere = await watcher.context.newPage();
    await elsewhere.goto(`${h.url}/approvals`);
    await expect.poll(() => elsewhere.evaluate(() => document.body.dataset.live), { timeout: 10_000 }).toBe('open');

    await vp.locator('#terminal').click();
    await vp.keyboard.type('shutdown -r now');
    await vp.keyboard.press('Enter');
    await expect
      .poll(() => rows.textContent(), { timeout: 10_000 })
      .toContain('[gatehouse] command blocked: stops the line');
    const watched = wp.locator('#watch-terminal .xterm-rows');
    await expect
      .poll(() => watched.textContent(), { timeout: 10_000 })
      .toContain('[gatehouse] command blocked: stops the line');
    const blocked = wp.locator('#watch-alerts li.alert-blocked');
    await expect.poll(() => blocked.textContent(), { timeout: 10_000 }).toContain('“shutdown -r now” (stops the line)');

    await vp.keyboard.type('plc download --all');
    await vp.keyboard.press('Enter');
    const alerted = wp.locator('#watch-alerts li.alert-alerted');
    await expect
      .poll(() => alerted.textContent(), { timeout: 10_000 })
      .toContain('“plc download --all” (changes PLC state)');
    expect(await wp.locator('#watch-terminal.flash-alerted').count()).toBe(1);
    await wp.screenshot({ path: 'test-results/watch-alerts.png' });

    // The other page: a count in the header and a notice with a link to the live view.
    await expect.poll(() => elsewhere.locator('#alert-badge').textContent(), { timeout: 10_000 }).toBe('⚠ 2 alerts');
    const notice = elsewhere.locator('#alert-notices .alert-notice').first();
    expect(await notice.textContent()).toContain('Alert: ');
    expect(await notice.textContent()).toContain('plc download --all');
    expect(await notice.locator('a').getAttribute('href')).toBe(`/sessions/${sessionId}/watch`);
    await elsewhere.screenshot({ path: 'test-results/alert-elsewhere.png' });

    // The vendor's own page gets no overseer alerts (not theirs to see).
    expect(await vp.locator('#alert-badge').count()).toBe(0);
    expect(vendor.errors).toEqual([]);
    expect(watcher.errors).toEqual([]);
    await vendor.context.close();
    await watcher.context.close();
  }, 120_000);
});
