// In Chromium: the vendor's tools on an approved request — the copy button puts the exact ssh line on the clipboard,
// and after `exit` in the browser terminal, Reconnect opens a new session on the same grant.
import { describe, expect, it } from 'vitest';
import { answerStepUp, openAs } from '../helpers/e2e-people.js';
import { useE2eSshWorld } from '../helpers/e2e-ssh-world.js';

const world = useE2eSshWorld();

describe('vendor terminal tools', () => {
  it('copies the ssh line; Reconnect after exit opens a new session', async () => {
    const { h, browser, harness } = world;
    const grant = await h.grant();
    const vendor = await openAs(browser, harness(), 'vendor', h.vendor.totpSecret, `/requests/${grant.id}`);
    const vp = vendor.page;
    try {
      await vendor.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.url });
      const line = (await vp.locator('#ssh-line').textContent()) ?? '';
      expect(line).toBe(`ssh -p ${h.port} eng-ws-01@127.0.0.1`);
      await vp.locator('#copy-ssh').click();
      await vp.locator('#copy-ssh', { hasText: 'Copied' }).waitFor();
      expect(await vp.evaluate(() => navigator.clipboard.readText())).toBe(line);

      await vp.locator('#open-terminal').click();
      await answerStepUp(vendor);
      await vp.locator('#term-status.ok').waitFor();
      const first = /session (ses_\S+)/.exec((await vp.locator('#term-status').textContent()) ?? '')?.[1];
      const rows = vp.locator('#terminal .xterm-rows');
      await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toMatch(/[#$]\s*$/m);
      await vp.locator('#terminal').click();
      await vp.keyboard.type('exit');
      await vp.keyboard.press('Enter');
      await expect.poll(() => vp.locator('#term-status').textContent(), { timeout: 10_000 }).toMatch(/Disconnected/);
      await vp.locator('#term-reconnect').click();
      // Still verified from a moment ago: no second prompt, straight to a new session on the same grant.
      await vp.locator('#term-status.ok').waitFor();
      const second = /session (ses_\S+)/.exec((await vp.locator('#term-status').textContent()) ?? '')?.[1];
      expect(second).toMatch(/^ses_/);
      expect(second).not.toBe(first);
      await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toMatch(/[#$]\s*$/m);
      await vp.locator('#terminal').click();
      await vp.keyboard.type('echo again-$((2*21))');
      await vp.keyboard.press('Enter');
      await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toContain('again-42');
      const sessions = h.gw.store.data.sessions.filter((s) => s.grantId === grant.grantId).map((s) => s.id);
      expect(sessions).toEqual(expect.arrayContaining([first, second]));
      expect(vendor.errors).toEqual([]);
    } finally {
      await vendor.context.close();
    }
  }, 120_000);
});
