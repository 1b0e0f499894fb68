// In Chromium against `gatehouse demo --dir` (startDemo, what the command runs): a second run on the same folder keeps
// the state — the vendor's approved request is still there, and its page shows the same gateway host key, so a
// known_hosts line taken from the first run still holds.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Demo, DEMO_TARGET_ID, startDemo } from '../../gateway/demo/run.js';
import { silentLogger } from '../../gateway/log.js';
import { launchBrowser } from '../helpers/browser.js';
import { postAs, signInDemo } from '../helpers/demo-people.js';
import { freePort } from '../helpers/ports.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { oathCode } from '../helpers/totp.js';

let browser: Browser;
let dir: TempDir;
let demo: Demo | undefined;

/** The same ports on both runs, as `gatehouse demo` uses its fixed ones: the identity provider's address is the issuer. */
let ports: { httpPort: number; idpPort: number; sshPort: number; targetPort: number };
const run = () => startDemo({ dir: dir.path, ...ports, logger: silentLogger });

beforeAll(async () => {
  dir = await tempDir('gh-demo-state-');
  ports = {
    httpPort: await freePort(),
    idpPort: await freePort(),
    sshPort: await freePort(),
    targetPort: await freePort(),
  };
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await demo?.close();
  await browser?.close();
  await dir?.remove();
}, 60_000);

/** The demo vendor in a fresh browser context, signed in through the demo identity provider's form, at `path`. */
async function vendorAt(d: Demo, path: string): Promise<Page> {
  const person = d.people.find((p) => p.groups.includes('vendors'))!;
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  await page.goto(`${d.gateway.http.url}${path}`);
  await page.locator('#signin-button').click();
  await page.getByLabel('Username').fill(person.login);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${d.gateway.http.url}${path}`);
  return page;
}

async function hostKeyShown(page: Page): Promise<string> {
  const summary = page.locator('#host-key summary');
  await summary.waitFor();
  const m = /SHA256:[A-Za-z0-9+/]+/.exec((await summary.textContent()) ?? '');
  if (!m) throw new Error(`no fingerprint in ${await summary.textContent()}`);
  return m[0];
}

describe('demo state between runs', () => {
  it('shows the same host key and keeps the approved request across two runs on one --dir', async () => {
    demo = await run();
    const vendor = await signInDemo(demo, 'vendors');
    const supervisor = await signInDemo(demo, 'ot-supervisors');
    await postAs(vendor, '/api/me/step-up', { code: oathCode(vendor.secret) });
    await postAs(supervisor, '/api/me/step-up', { code: oathCode(supervisor.secret) });
    const created = await postAs(vendor, '/api/requests', {
      targetId: DEMO_TARGET_ID,
      protocol: 'ssh',
      durationMinutes: 120,
      purpose: 'check the demo keeps its state',
    });
    const id = String(created.id);
    await postAs(supervisor, `/api/requests/${id}/approve`, {});
    const firstSecrets = demo.people.map((p) => p.totpSecret);

    const first = await vendorAt(demo, `/requests/${id}`);
    const fingerprint = await hostKeyShown(first);
    expect(fingerprint).toBe(demo.gateway.ssh!.hostKeys[0]!.fingerprint);
    const knownHosts = (await first.locator('#known-hosts-line').textContent()) ?? '';
    await first.context().close();
    await demo.close();
    demo = undefined;

    demo = await run();
    expect(demo.people.map((p) => p.totpSecret)).toEqual(firstSecrets);
    const second = await vendorAt(demo, `/requests/${id}`);
    expect(await hostKeyShown(second)).toBe(fingerprint);
    await second.locator('#detail-state', { hasText: 'approved' }).waitFor();
    expect(await second.locator('#known-hosts-line').textContent()).toBe(knownHosts);
    await second.context().close();
  }, 120_000);
});
