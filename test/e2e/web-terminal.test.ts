// In Chromium: a vendor opens the browser terminal on a real sshd through the gateway and works in it; a supervisor
// watches the session live from the screen it is at, then terminates it with a reason the vendor reads.
import { mkdir } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { answerStepUp, openAs } from '../helpers/e2e-people.js';
import { useE2eSshWorld } from '../helpers/e2e-ssh-world.js';

const world = useE2eSshWorld();
beforeAll(async () => {
  await mkdir('test-results', { recursive: true });
});

describe('browser terminal and live view', () => {
  it('vendor works in the browser terminal; supervisor watches live and terminates it', async () => {
    const { h, browser, supervisorSecret, harness } = world;
    const grant = await h.grant();
    const vendor = await openAs(browser, harness(), 'vendor', h.vendor.totpSecret, `/connect/${grant.grantId}`);
    const vp = vendor.page;
    await answerStepUp(vendor).catch(async (e) => {
      throw new Error(`${String(e)}\n${JSON.stringify(vendor.errors)}\n${await vp.locator('main').innerHTML()}`);
    });
    await vp.locator('#term-status.ok').waitFor();
    expect(await vp.locator('#term-status').textContent()).toMatch(/Connected to eng-ws-01 · session ses_/);
    const rows = vp.locator('#terminal .xterm-rows');
    await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toMatch(/[#$]\s*$/m);
    await vp.locator('#terminal').click();
    // Typed key by key, as a person does: each key is its own websocket message and is echoed by the target.
    await vp.keyboard.type('echo e2e-$((3*4))');
    await vp.keyboard.press('Enter');
    await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toContain('e2e-12');
    await expect.poll(() => vp.locator('#term-left').textContent(), { timeout: 5000 }).toMatch(/min \d+ s left/);

    const live = h.gw.liveSessions.list();
    expect(live).toHaveLength(1);
    const sessionId = live[0]!.id;
    const supervisor = await openAs(browser, harness(), 'supervisor', supervisorSecret, `/sessions/${sessionId}/watch`);
    const sp = supervisor.page;
    await sp.locator('#watch-status.ok').waitFor();
    const watched = sp.locator('#watch-terminal .xterm-rows');
    // The viewer starts from the screen the vendor has now.
    await expect.poll(() => watched.textContent(), { timeout: 10_000 }).toContain('e2e-12');
    await vp.keyboard.type('echo live-$((5*5))');
    await vp.keyboard.press('Enter');
    await expect.poll(() => watched.textContent(), { timeout: 10_000 }).toContain('live-25');
    await sp.screenshot({ path: 'test-results/live-view.png' });

    await sp.locator('#terminate-reason').fill('maintenance window closed by the shift lead');
    await sp.locator('#terminate').click();
    await answerStepUp(supervisor);
    await expect.poll(() => vp.locator('#term-status').textContent(), { timeout: 10_000 }).toMatch(/Disconnected/);
    await expect
      .poll(() => rows.textContent(), { timeout: 10_000 })
      .toContain('maintenance window closed by the shift lead');
    await expect
      .poll(() => sp.locator('#watch-status').textContent(), { timeout: 10_000 })
      .toMatch(/ended \(terminated\)/);
    // The live view then says who ended it and why, and leads to the session's record.
    await expect
      .poll(() => sp.locator('#watch-closed-by').textContent(), { timeout: 10_000 })
      .toBe('Terminated by Sam Supervisor — maintenance window closed by the shift lead.');
    expect(await sp.locator('#watch-after a').getAttribute('href')).toBe(`/sessions/${sessionId}`);
    const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    expect(ended.data?.reason).toBe('terminated');
    await h.waitAudit('session.terminated', (a) => a.subject?.sessionId === sessionId);
    await h.waitAudit('session.monitored', (a) => a.subject?.sessionId === sessionId);
    const commands = h.gw.commands.records.filter((c) => c.sessionId === sessionId).map((c) => c.text);
    expect(commands).toEqual(['echo e2e-$((3*4))', 'echo live-$((5*5))']);
    expect(vendor.errors).toEqual([]);
    expect(supervisor.errors).toEqual([]);
    await vendor.context.close();
    await supervisor.context.close();
    // A bound for a loaded machine (44 s at load 20 against the 30 s default), not a timing check.
  }, 120_000);
});
