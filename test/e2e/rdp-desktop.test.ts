// In Chromium, against the Guacamole-protocol stand-in (guacd cannot be installed here): the vendor opens the
// remote desktop page, sees the desktop, clicks, types and resizes into it; a supervisor watches read-only and
// terminates it with a reason the vendor reads; the recording replays with web/rdp-replay.ts. Also: the page's
// words for a guacd that is down, a target that does not answer, a certificate that no longer matches the pin,
// and a connection that never draws (never "Connected" over a blank screen).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, pixel } from '../helpers/browser.js';
import { openAs } from '../helpers/e2e-people.js';
import { type GuacdStandin, startGuacdStandin } from '../helpers/guacd-standin.js';
import { oathCode } from '../helpers/totp.js';
import { type Person, type RdpWorld, startRdpWorld } from '../integration/rdp-fixture.js';

let browser: Browser;
let standin: GuacdStandin;
let w: RdpWorld;
let vendor: Person;
let supervisor: Person;
const SHOTS = join(process.cwd(), 'test-results');
const PIN = Array.from({ length: 32 }, (_, i) => ((i * 53 + 7) % 256).toString(16).padStart(2, '0')).join(':');
const harness = () => ({ idp: w.idp, gw: w.gw, dir: w.dir, url: w.url, close: async () => undefined });

beforeAll(async () => {
  standin = await startGuacdStandin({ keepAliveMs: 500, color: [30, 60, 120], certSha256: PIN });
  w = await startRdpWorld({
    guacd: { host: standin.host, port: standin.port },
    rdp: { certSha256: PIN },
    tuning: { settleQuietMs: 150, settleMaxMs: 3000, firstFrameMs: 4000 },
  });
  // TOTP enrolled through the API at the gateway's current clock; the page's step-up uses the next step.
  vendor = await w.person('vendor', { stepUp: false });
  supervisor = await w.person('supervisor', { stepUp: false });
  browser = await launchBrowser();
  await mkdir(SHOTS, { recursive: true });
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await w?.close();
  await standin?.close();
});

/** Answers the step-up dialog with the code of the gateway's next time step (its clock moves on: never a replay). */
async function stepUp(page: Page, secret: string): Promise<void> {
  await page
    .locator('#stepup-dialog')
    .waitFor()
    .catch(async (e) => {
      throw new Error(`${String(e)}\n${await page.locator('main').innerHTML()}`);
    });
  await page.locator('#stepup-code').fill(oathCode(secret, w.clock.nextStep()));
  await page.locator('#stepup-submit').click();
  await page.locator('#stepup-dialog').waitFor({ state: 'detached' });
}

describe('remote desktop page', () => {
  it('vendor works on the desktop; a supervisor watches and terminates; the recording replays', async () => {
    const grant = await w.grant(vendor);
    const v = await openAs(browser, harness(), 'vendor', vendor.secret, `/rdp/${grant.grantId}`);
    const vp = v.page;
    await stepUp(vp, vendor.secret);
    await vp.locator('#rdp-status.ok').waitFor();
    expect(await vp.locator('#rdp-status').textContent()).toMatch(
      /Connected to Engineering workstation 01 · session ses_.+ \(recorded\)/,
    );
    await expect.poll(() => pixel(vp, '#rdp-display'), { timeout: 10_000 }).toEqual([30, 60, 120]);
    await expect.poll(() => vp.locator('#rdp-left').textContent(), { timeout: 5_000 }).toMatch(/min .* left/);

    const sessionId = w.gw.liveSessions.list().find((s) => s.protocol === 'rdp')!.id;
    const conn = standin.connections.find((c) => c.owner.params['recording-name'] === `${sessionId}.guac`)!;
    // The page asked for the size it has, within the bounds.
    expect(Number(conn.owner.params.width)).toBeGreaterThan(300);

    // Mouse and keyboard reach guacd as Guacamole instructions.
    await vp.locator('#rdp-display').click({ position: { x: 40, y: 30 } });
    await standin.waitFor('a mouse click', () =>
      conn.owner.received.some((i) => i.opcode === 'mouse' && i.args[2] === '1'),
    );
    await vp.keyboard.press('a');
    await standin.waitFor('the key a', () =>
      conn.owner.received.some((i) => i.opcode === 'key' && i.args[0] === String(0x61) && i.args[1] === '1'),
    );
    await vp.locator('#rdp-cad').click();
    await standin.waitFor('Ctrl+Alt+Del', () =>
      conn.owner.received.some((i) => i.opcode === 'key' && i.args[0] === String(0xffff)),
    );
    // Resizing the window resizes the remote screen.
    await vp.setViewportSize({ width: 900, height: 700 });
    await standin.waitFor('a size', () => conn.owner.received.some((i) => i.opcode === 'size'));
    standin.paint(conn.id, [200, 40, 40]);
    await expect.poll(() => pixel(vp, '#rdp-display'), { timeout: 10_000 }).toEqual([200, 40, 40]);
    await vp.screenshot({ path: join(SHOTS, 'rdp-desktop.png') });

    // The supervisor's read-only view starts from the desktop as it is.
    const s = await openAs(browser, harness(), 'supervisor', supervisor.secret, `/rdp/watch/${sessionId}`);
    const sp = s.page;
    await sp.locator('#rdp-watch-status.ok').waitFor();
    expect(await sp.locator('#rdp-watch-status').textContent()).toContain('audited');
    // The heading names the vendor as the rest of the UI does (name, company) and the target by its name, never by ids.
    const record = w.gw.store.data.sessions.find((x) => x.id === sessionId)!;
    const person = w.gw.store.data.users.find((u) => u.id === record.userId)!;
    const target = w.gw.config.targets.find((t) => t.id === record.targetId)!;
    const heading = sp.locator('#rdp-watch-heading');
    await expect
      .poll(() => heading.textContent(), { timeout: 10_000 })
      .toBe(`Live: ${person.name} (${person.org || person.email}) on ${target.name}`);
    expect(await heading.textContent()).not.toContain(record.userId);
    await expect.poll(() => pixel(sp, '#rdp-watch-display'), { timeout: 10_000 }).toEqual([30, 60, 120]);
    standin.paint(conn.id, [10, 200, 10]);
    await expect.poll(() => pixel(sp, '#rdp-watch-display'), { timeout: 10_000 }).toEqual([10, 200, 10]);
    const joiner = conn.joiners[0]!;
    await sp.locator('#rdp-watch-display').click();
    await sp.keyboard.press('b');
    await new Promise((r) => setTimeout(r, 300));
    expect(joiner.received.filter((i) => i.opcode === 'key' || i.opcode === 'mouse')).toEqual([]);

    await sp.locator('#terminate-reason').fill('maintenance window closed by the shift lead');
    await sp.locator('#terminate').click();
    await stepUp(sp, supervisor.secret);
    await expect
      .poll(() => vp.locator('#rdp-status').textContent(), { timeout: 10_000 })
      .toMatch(/Disconnected\..*maintenance window closed by the shift lead/);
    await expect.poll(() => sp.locator('#rdp-watch-status').textContent(), { timeout: 10_000 }).toMatch(/ended/);
    await w.waitAudit('session.monitored', (a) => a.subject?.sessionId === sessionId);
    expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
      'terminated',
    );
    await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);

    // Replay: the session's page in the auditor workspace plays the sealed .guac (guacamole-common-js); seek to its end.
    await sp.goto(`${w.url}/sessions/${sessionId}`);
    const seek = sp.locator('#guac-replay .guac-replay-seek:not([disabled])');
    await seek.waitFor();
    expect(Number(await seek.getAttribute('max'))).toBeGreaterThan(0);
    await seek.evaluate((el: HTMLInputElement) => {
      el.value = el.max;
      el.dispatchEvent(new Event('input'));
    });
    await expect.poll(() => pixel(sp, '#guac-replay'), { timeout: 10_000 }).toEqual([10, 200, 10]);
    // One clock in seconds, as on the terminal replay, and who ended the session and why.
    expect(await sp.locator('#guac-replay .guac-replay-time').textContent()).toMatch(/^\d+\.\d s \/ \d+\.\d s$/);
    expect(await sp.locator('#guac-replay .guac-replay-play').textContent()).toBe('▶ Play');
    expect(await sp.locator('#session-closed-by').textContent()).toMatch(
      /^Terminated by .+ — maintenance window closed by the shift lead$/,
    );
    await w.waitAudit('recording.viewed', (a) => a.subject?.sessionId === sessionId);
    await sp.screenshot({ path: join(SHOTS, 'rdp-replay.png') });

    expect(v.errors).toEqual([]);
    expect(s.errors).toEqual([]);
    await v.context.close();
    await s.context.close();
  }, 120_000);

  it('says so clearly when guacd is down, and when the target does not answer', async () => {
    const grant = await w.grant(vendor);
    await standin.listening(false);
    const v = await openAs(browser, harness(), 'vendor', vendor.secret, `/rdp/${grant.grantId}`);
    try {
      // This browser context's web session has no step-up yet.
      await stepUp(v.page, vendor.secret);
      await expect
        .poll(() => v.page.locator('#rdp-status').textContent(), { timeout: 10_000 })
        .toMatch(/remote desktop service \(guacd\) is not reachable/);
    } finally {
      await standin.listening(true);
    }
    standin.mode = 'upstream-error';
    try {
      await v.page.reload();
      await expect
        .poll(() => v.page.locator('#rdp-status').textContent(), { timeout: 10_000 })
        .toMatch(/Disconnected\. The workstation could not be reached/);
    } finally {
      standin.mode = 'normal';
    }
    expect(v.errors).toEqual([]);
    await v.context.close();
  }, 90_000);

  it('never says Connected before a picture: a stuck connection is closed with why; a changed certificate is named', async () => {
    const grant = await w.grant(vendor);
    standin.mode = 'stuck';
    const v = await openAs(browser, harness(), 'vendor', vendor.secret, `/rdp/${grant.grantId}`);
    try {
      await stepUp(v.page, vendor.secret);
      const status = v.page.locator('#rdp-status');
      await expect
        .poll(() => status.textContent(), { timeout: 10_000 })
        .toMatch(
          /^Connecting to Engineering workstation 01 · session ses_.+… waiting for the workstation's first picture$/,
        );
      expect(await status.getAttribute('class')).not.toContain('ok');
      await expect
        .poll(() => status.textContent(), { timeout: 15_000 })
        .toMatch(/^Disconnected\. The workstation showed nothing within 4 s of connecting/);
    } finally {
      standin.mode = 'normal';
    }
    standin.certSha256 = PIN.replace(/^../, 'ff');
    try {
      await v.page.reload();
      await expect
        .poll(() => v.page.locator('#rdp-status').textContent(), { timeout: 10_000 })
        .toMatch(/^Disconnected\. The workstation's certificate does not match the pinned one/);
    } finally {
      standin.certSha256 = PIN;
    }
    expect(v.errors).toEqual([]);
    await v.context.close();
  }, 90_000);
});
