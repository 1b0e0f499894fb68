// `gatehouse demo` as a system: the embedded IdP signs in a seeded demo user whose TOTP is already enrolled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../../gateway/demo/run.js';
import { silentLogger } from '../../gateway/log.js';
import { authorizeWithPassword } from '../helpers/oidc.js';
import { freePort } from '../helpers/ports.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { oathCode } from '../helpers/totp.js';
import { Browser, beginLogin, type Me } from '../helpers/web-login.js';

let demo: Demo;
let dir: TempDir;

beforeAll(async () => {
  dir = await tempDir('gh-demo-');
  demo = await startDemo({
    dir: dir.path,
    httpPort: await freePort(),
    idpPort: await freePort(),
    sshPort: await freePort(),
    targetPort: await freePort(),
    logger: silentLogger,
  });
});
afterAll(async () => {
  await demo?.close();
  await dir?.remove();
});

async function signInAs(login: string): Promise<{ browser: Browser; me: Me }> {
  const person = demo.people.find((p) => p.login === login)!;
  const browser = new Browser(demo.gateway.http.url);
  const authorizeUrl = await beginLogin(browser);
  const { callbackUrl } = await authorizeWithPassword({ authorizeUrl, login, password: person.password });
  const cb = await browser.fetch(callbackUrl);
  expect(cb.status).toBe(303);
  const me = (await (await browser.fetch('/api/me')).json()) as Me;
  return { browser, me };
}

describe('gatehouse demo', () => {
  it('has a person for every role, each with a TOTP secret', () => {
    const groups = demo.people.flatMap((p) => p.groups);
    for (const g of ['vendors', 'ot-supervisors', 'auditors', 'ot-admins']) expect(groups).toContain(g);
    for (const p of demo.people) expect(p.totpSecret).toMatch(/^[A-Z2-7]{32}$/);
  });

  it('signs in a demo vendor whose TOTP is pre-enrolled, and steps up with an oathtool code', async () => {
    const vendor = demo.people.find((p) => p.groups.includes('vendors'))!;
    const { browser, me } = await signInAs(vendor.login);
    expect(me.roles).toEqual(['vendor']);
    expect(me.org).toBe('Acme Automation');
    expect(me.totpEnrolled).toBe(true);
    const res = await browser.fetch('/api/me/step-up', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: JSON.stringify({ code: oathCode(vendor.totpSecret) }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { stepUpUntil: string }).stepUpUntil).toMatch(/^\d{4}-/);
  });

  it('signs in the supervisor, auditor and admin with their roles', async () => {
    const expected: Record<string, string> = {
      'supervisor@plant.example': 'supervisor',
      'auditor@plant.example': 'auditor',
      'admin@plant.example': 'admin',
    };
    for (const [login, role] of Object.entries(expected)) {
      const { me } = await signInAs(login);
      expect(me.roles).toEqual([role]);
    }
  });
});
