// In Chromium: a vendor requests access, a supervisor approves and revokes in another context; the vendor's page follows live.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { answerStepUp, enrolTotp, openAs, type Person } from '../helpers/e2e-people.js';
import { type AuthHarness, startAuthHarness } from '../helpers/web-login.js';

let browser: Browser;
let h: AuthHarness;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  h = await startAuthHarness();
  browser = await launchBrowser();
  secrets.vendor = await enrolTotp(h, 'vendor');
  secrets.supervisor = await enrolTotp(h, 'supervisor');
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const MARKUP = '<img src=x onerror=alert(1)> update the S7 project on line 2';

/** Vendor: fill the form and send it; returns the new request's id (from the URL "My requests" opens with). */
async function sendRequest(vendor: Person, purpose: string, ticket = 'CHG-1234'): Promise<string> {
  const page = vendor.page;
  await page.locator('#req-target').selectOption('eng-ws-01');
  await page.getByLabel('Duration (minutes)').fill('60');
  await page.getByLabel(/^Purpose/).fill(purpose);
  await page.getByLabel('Ticket (optional)').fill(ticket);
  await page.locator('#req-submit').click();
  return page.url();
}

describe('access requests in the browser', () => {
  it('vendor requests, supervisor approves with step-up, vendor sees the grant and then the revocation live', async () => {
    const vendor = await openAs(browser, h, 'vendor', secrets.vendor!, '/requests/new?target=eng-ws-01');
    const supervisor = await openAs(browser, h, 'supervisor', secrets.supervisor!, '/approvals');
    try {
      const vp = vendor.page;
      const sp = supervisor.page;
      // The form shows the target with its zone and security level, preselected from ?target=.
      expect(await vp.locator('#req-target').inputValue()).toBe('eng-ws-01');
      await expect(vp.locator('#target-info').textContent()).resolves.toContain(
        'Zone Cell 2 / Level 2 · security level 3',
      );
      // The target's id (the login in `ssh <id>@gateway`) is in the list and beside it.
      expect(await vp.locator('#target-id').textContent()).toBe('eng-ws-01');
      expect(await vp.locator('#req-target option:checked').textContent()).toMatch(
        /^Engineering workstation 01 \(eng-ws-01\) — /,
      );
      expect(await vp.locator('#req-protocol option').allTextContents()).toEqual(['SSH']);
      // Emergency reveals its reason and the note on approvals.
      expect(await vp.locator('#emergency-box').isHidden()).toBe(true);
      expect(await vp.getByRole('checkbox', { name: /Emergency/ }).count()).toBe(1);
      await vp.locator('#req-emergency').check();
      await expect(vp.locator('#emergency-note').textContent()).resolves.toContain('needs 2 approvals');
      await vp.locator('#req-emergency').uncheck();

      await sendRequest(vendor, MARKUP);
      await answerStepUp(vendor);
      await vp.waitForURL(/\/requests\?created=req_/);
      const id = new URL(vp.url()).searchParams.get('created')!;
      const state = vp.locator(`#req-state-${id}`);
      await state.filter({ hasText: 'pending (0 of 1 approvals)' }).waitFor();
      // Markup in the purpose is text, never an element.
      expect(await vp.locator(`#req-purpose-${id}`).textContent()).toBe(MARKUP);
      expect(await vp.locator('img[src="x"]').count()).toBe(0);
      // Remember this document: the later checks prove it was never reloaded.
      await vp.evaluate(() => ((globalThis as unknown as { keep: number }).keep = 42));
      await vp.locator('body[data-live="open"]').waitFor();

      // The supervisor's queue got it live (the page was open before the request existed).
      const card = sp.locator(`#appr-${id}`);
      await card.waitFor();
      const text = (await card.textContent()) ?? '';
      for (const s of [
        'Vera Vendor',
        'Acme Automation',
        'vendor@acme.example',
        'Engineering workstation 01',
        'Zone Cell 2 / Level 2',
        'CHG-1234',
        '0 of 1',
        'None on this target',
      ])
        expect(text).toContain(s);
      expect(await sp.locator(`#purpose-${id}`).textContent()).toBe(MARKUP);
      expect(await sp.locator('img[src="x"]').count()).toBe(0);
      const shot = join(h.dir.path, 'approval-queue.png');
      await sp.locator('#queue').screenshot({ path: shot });
      expect((await readFile(shot)).subarray(0, 8)).toEqual(
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      );

      await sp.locator(`#approve-${id}`).click();
      await answerStepUp(supervisor);
      await sp.locator(`#grant-${id}`).waitFor();
      expect(await card.count()).toBe(0);
      await sp.locator('#queue-empty').waitFor();

      // The vendor's page, not reloaded, shows the grant.
      await state.filter({ hasText: 'approved · active now' }).waitFor();
      expect(await vp.evaluate(() => (globalThis as unknown as { keep?: number }).keep)).toBe(42);
      // A started grant cannot be withdrawn any more (only revoked): the server says so through `can`.
      expect(await vp.locator(`#cancel-${id}`).count()).toBe(0);

      // Revoke: the step-up is still fresh, so no prompt; the reason form is required.
      await sp.locator(`#revoke-${id}`).click();
      await sp.locator(`#revoke-reason-${id}`).fill('Work finished early, closing access');
      await sp.locator(`#revoke-submit-${id}`).click();
      await sp.locator(`#grant-${id}`).waitFor({ state: 'detached' });
      await state.filter({ hasText: 'revoked' }).waitFor();
      expect(await vp.locator(`#req-row-${id}`).getAttribute('data-state')).toBe('revoked');
      expect(await vp.evaluate(() => (globalThis as unknown as { keep?: number }).keep)).toBe(42);

      // The detail page shows the history, with the supervisor's decision.
      await vp.locator(`#req-row-${id} a`, { hasText: 'Details' }).click();
      await vp.locator('#detail-state').filter({ hasText: 'revoked' }).waitFor();
      await expect(vp.locator('#request-detail').textContent()).resolves.toContain('Approved by Sam Supervisor');
      expect(vendor.errors).toEqual([]);
      expect(supervisor.errors).toEqual([]);
    } finally {
      await vendor.context.close();
      await supervisor.context.close();
    }
  });

  it('shows server errors inline, cancels a request, and manages SSH keys', async () => {
    const vendor = await openAs(browser, h, 'vendor2', await enrolTotp(h, 'vendor2'), '/requests/new');
    const auditorSecret = await enrolTotp(h, 'auditor');
    const auditor = await openAs(browser, h, 'auditor', auditorSecret, '/approvals');
    try {
      const vp = vendor.page;
      // The server's refusal (ticket characters) is shown in the form after the step-up.
      await sendRequest(vendor, 'Calibrate the line 2 drives', 'bad ticket!');
      await answerStepUp(vendor);
      await vp.locator('#req-error').filter({ hasText: 'ticket must be' }).waitFor();
      expect(vp.url()).toContain('/requests/new');
      // Fixed, it goes through without another prompt (the step-up is fresh).
      await vp.getByLabel('Ticket (optional)').fill('CHG-77');
      await vp.locator('#req-submit').click();
      await vp.waitForURL(/\/requests\?created=req_/);
      const id = new URL(vp.url()).searchParams.get('created')!;

      // The auditor sees it read-only: context, no buttons.
      await auditor.page.locator(`#appr-${id}`).waitFor();
      expect(await auditor.page.locator(`#appr-${id} button`).count()).toBe(0);

      await vp.locator(`#cancel-${id}`).click();
      await vp.locator(`#cancel-submit-${id}`).click();
      await vp.locator(`#req-state-${id}`).filter({ hasText: 'cancelled' }).waitFor();
      await auditor.page.locator(`#appr-${id}`).waitFor({ state: 'detached' });

      // SSH keys: a bad line is refused inline; a real one is listed and deleted.
      await vp.getByRole('link', { name: 'SSH keys' }).click();
      await vp.getByLabel(/^Public key/).fill('ssh-ed25519 not-a-key');
      await vp.locator('#key-add').click();
      await vp.locator('#key-error').filter({ hasText: 'not an OpenSSH public key' }).waitFor();
      const line = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl vendor2@laptop';
      await vp.getByLabel(/^Public key/).fill(line);
      await vp.locator('#key-add').click();
      const row = vp.locator('#keys-body tr');
      await row.filter({ hasText: 'vendor2@laptop' }).waitFor();
      await expect(row.first().textContent()).resolves.toMatch(/SHA256:/);
      await row
        .first()
        .getByRole('button', { name: /Delete key/ })
        .click();
      await row.first().getByRole('button', { name: 'Yes, delete' }).click();
      await vp.locator('#keys-empty').waitFor();
      expect(vendor.errors).toEqual([]);
      expect(auditor.errors).toEqual([]);
    } finally {
      await vendor.context.close();
      await auditor.context.close();
    }
  });
});
