// In Chromium: a supervisor's remote desktop live view on gw-b shows the desktop the vendor has open on gw-a
// (joined on gw-a's guacd, here the Guacamole stand-in, and relayed), follows it, and says plainly when gw-a goes
// away mid-watch.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, pixel } from '../helpers/browser.js';
import { openAs } from '../helpers/e2e-people.js';
import { type GuacdStandin, startGuacdStandin } from '../helpers/guacd-standin.js';
import type { AuthHarness } from '../helpers/web-login.js';
import { type ClusterWorld, startClusterWorld } from '../integration/cluster-fixture.js';
import { openGuac } from '../integration/rdp-fixture.js';

let browser: Browser;
let w: ClusterWorld;
let guacdA: GuacdStandin;
let guacdB: GuacdStandin;
const SHOTS = join(process.cwd(), 'test-results');

beforeAll(async () => {
  guacdA = await startGuacdStandin({ keepAliveMs: 500, color: [30, 60, 120] });
  guacdB = await startGuacdStandin({ keepAliveMs: 500, color: [200, 0, 200] });
  w = await startClusterWorld({ rdp: { guacd: { 'gw-a': guacdA, 'gw-b': guacdB } } });
  await w.vendor.post('/api/me/step-up', { code: await w.sshHarness.nextCode() });
  browser = await launchBrowser();
  await mkdir(SHOTS, { recursive: true });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await w?.close();
  await guacdA?.close();
  await guacdB?.close();
}, 60_000);

describe('remote desktop live view across nodes', () => {
  it('shows on gw-b the desktop held on gw-a, then that gw-a went away', async () => {
    const t = await w.vendor.post(`/api/grants/${w.rdpGrantId}/rdp-token`, { width: 1024, height: 768, dpi: 96 });
    const cookie = w.vendor.browser.jar.header(new URL('/ws/', w.a.url));
    const c = openGuac(w.a.url, `/ws/rdp?token=${String(t.token)}`, cookie, w.a.url);
    const sessionId = String((await c.message('ready')).sessionId);
    const conn = await guacdA.waitFor('the connection on gw-a', () =>
      guacdA.connections.find((x) => x.owner.params['recording-name'] === `${sessionId}.guac`),
    );

    const onB = { idp: w.idp, url: w.b.url } as unknown as AuthHarness;
    const s = await openAs(browser, onB, 'supervisor', '', `/rdp/watch/${sessionId}`);
    await s.page.locator('#rdp-watch-status.ok').waitFor();
    expect(await s.page.locator('#rdp-watch-status').textContent()).toContain('audited');
    // gw-a's desktop (gw-b's guacd would paint it magenta).
    await expect.poll(() => pixel(s.page, '#rdp-watch-display'), { timeout: 10_000 }).toEqual([30, 60, 120]);
    guacdA.paint(conn.id, [10, 200, 10]);
    await expect.poll(() => pixel(s.page, '#rdp-watch-display'), { timeout: 10_000 }).toEqual([10, 200, 10]);
    await s.page.screenshot({ path: join(SHOTS, 'cluster-rdp-watch.png') });
    expect(guacdB.selects).toEqual([]);

    w.a.serve.child.kill('SIGKILL');
    await w.a.serve.exited;
    await s.page.locator('#rdp-watch-status.error').waitFor({ timeout: 30_000 });
    expect(await s.page.locator('#rdp-watch-status').textContent()).toMatch(
      /gw-a, the node holding this session, was lost; the live view ended/,
    );
    expect(s.errors).toEqual([]);
    c.ws.close();
  }, 120_000);
});
