// In Chromium: a supervisor's live-view page on gw-b follows an OpenSSH session held by gw-a, and says so plainly
// when gw-a goes away mid-watch.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { openAs } from '../helpers/e2e-people.js';
import { spawnSsh } from '../helpers/openssh-vendor.js';
import { TARGET } from '../helpers/ssh-gateway.js';
import type { AuthHarness } from '../helpers/web-login.js';
import { type ClusterWorld, startClusterWorld } from '../integration/cluster-fixture.js';

let browser: Browser;
let w: ClusterWorld;

beforeAll(async () => {
  w = await startClusterWorld();
  browser = await launchBrowser();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await w?.close();
}, 60_000);

describe('live view page across nodes', () => {
  it('shows on gw-b what the vendor types on gw-a, then that gw-a went away', async () => {
    const ssh = await spawnSsh(w.sshHarness, TARGET, { options: ['-tt'], code: await w.sshHarness.nextCode() });
    await ssh.until(/[#$] $/, { ms: 20_000 });
    ssh.write('echo first-$((6*7))\r');
    await ssh.until(/first-42/);
    const sup = await w.signIn(w.b, 'supervisor');
    let sessionId = '';
    for (let i = 0; i < 200 && !sessionId; i++) {
      const res = await sup.fetch('/api/sessions');
      sessionId = ((await res.json()) as { sessions: Array<{ id: string }> }).sessions[0]?.id ?? '';
      if (!sessionId) await new Promise((r) => setTimeout(r, 50));
    }
    const onB = { idp: w.idp, url: w.b.url } as unknown as AuthHarness;
    const watcher = await openAs(browser, onB, 'supervisor', '', `/sessions/${sessionId}/watch`);
    const page = watcher.page;
    await page.locator('#watch-status.ok').waitFor();
    const rows = page.locator('#watch-terminal .xterm-rows');
    await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toContain('first-42');
    ssh.write('echo second-$((6*8))\r');
    await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toContain('second-48');

    w.a.serve.child.kill('SIGKILL');
    await w.a.serve.exited;
    await page.locator('#watch-status.error').waitFor({ timeout: 30_000 });
    expect(await page.locator('#watch-status').textContent()).toMatch(
      /gw-a, the node holding this session, was lost; the live view ended/,
    );
    expect(watcher.errors).toEqual([]);
    ssh.kill();
  }, 120_000);
});
