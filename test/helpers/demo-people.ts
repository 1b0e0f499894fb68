// Signing in to a running `gatehouse demo` as one of its people (through the embedded IdP's real login form),
// and calling the API as them.
import type { Demo } from '../../gateway/demo/run.js';
import { authorizeWithPassword } from './oidc.js';
import { Browser, beginLogin, type Me } from './web-login.js';

export interface DemoPerson {
  browser: Browser;
  me: Me;
  secret: string;
}

/** The first demo person in `group`, signed in. */
export async function signInDemo(demo: Demo, group: string): Promise<DemoPerson> {
  const person = demo.people.find((p) => p.groups.includes(group));
  if (!person) throw new Error(`no demo person in group ${group}`);
  const browser = new Browser(demo.gateway.http.url);
  const { callbackUrl } = await authorizeWithPassword({
    authorizeUrl: await beginLogin(browser),
    login: person.login,
    password: person.password,
  });
  const cb = await browser.fetch(callbackUrl);
  if (cb.status !== 303) throw new Error(`callback answered ${cb.status}`);
  const me = (await (await browser.fetch('/api/me')).json()) as Me;
  return { browser, me, secret: person.totpSecret };
}

/** POST as `who` with their CSRF token; throws on any status ≥ 300 with the body. */
export async function postAs(
  who: Pick<DemoPerson, 'browser' | 'me'>,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const res = await who.browser.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': who.me.csrfToken },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}
