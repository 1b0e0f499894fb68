// A gateway wired to a test IdP, and a fetch-driven "browser" that signs in through the real OIDC redirects.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AuthTuning, type Gateway, startGateway } from '../../gateway/app.js';
import type { Clock } from '../../gateway/clock.js';
import type { MeResponse } from '../../gateway/http/routes/me.js';
import { silentLogger } from '../../gateway/log.js';
import { testConfigWithOidc } from './config.js';
import { authorizeWithPassword, CookieJar, startTestIdp, type TestIdp, type TestRole } from './oidc.js';
import { freePort } from './ports.js';
import { type TempDir, tempDir } from './tmp.js';

export interface AuthHarness {
  idp: TestIdp;
  gw: Gateway;
  dir: TempDir;
  /** The gateway's URL, which is also its configured publicUrl. */
  url: string;
  close(): Promise<void>;
}

/** Starts a test IdP and a gateway whose publicUrl is its own listening URL, the IdP's redirect URI set to match. */
export async function startAuthHarness(
  opts: { clock?: Clock; auth?: AuthTuning; idp?: TestIdp } = {},
): Promise<AuthHarness> {
  const idp = opts.idp ?? (await startTestIdp({ pathPrefix: '/oidc' }));
  const dir = await tempDir('gh-auth-');
  const secretFile = join(dir.path, 'oidc-secret');
  await writeFile(secretFile, idp.client.clientSecret, { mode: 0o600 });
  const port = await freePort();
  const config = testConfigWithOidc(join(dir.path, 'storage'), {
    port,
    issuer: idp.issuer,
    clientId: idp.client.clientId,
    clientSecretFile: secretFile,
  });
  const gw = await startGateway({
    config,
    logger: silentLogger,
    ...(opts.clock ? { clock: opts.clock } : {}),
    auth: { loginPerMinute: 1000, ...opts.auth },
  });
  idp.setRedirectUris([`${config.http.publicUrl}/auth/callback`]);
  const close = async () => {
    await gw.stop('test');
    if (!opts.idp) await idp.close();
    await dir.remove();
  };
  return { idp, gw, dir, url: config.http.publicUrl, close };
}

/** One browser: a cookie jar for the gateway, manual redirects. */
export class Browser {
  readonly jar = new CookieJar();
  constructor(readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(path, this.base);
    const headers = new Headers(init.headers);
    const cookie = this.jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.jar.store(res.headers.getSetCookie());
    return res;
  }

  /** The value of a cookie the browser would send to `path`. */
  cookie(name: string, path = '/api/me'): string | undefined {
    const header = this.jar.header(new URL(path, this.base));
    return header
      .split('; ')
      .find((c) => c.startsWith(`${name}=`))
      ?.slice(name.length + 1);
  }
}

/** What GET /api/me answers: the route's own type, so tests cannot drift from it. */
export type Me = MeResponse;

/** GET /auth/login → the IdP's authorization URL (and the gh_login cookie set in the browser). */
export async function beginLogin(browser: Browser, returnTo?: string): Promise<URL> {
  const q = returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`;
  const res = await browser.fetch(`/auth/login${q}`);
  await res.body?.cancel();
  if (res.status !== 303) throw new Error(`/auth/login answered ${res.status}`);
  return new URL(res.headers.get('location') ?? '');
}

/**
 * Signs `role` in through the IdP's password form and the gateway's callback; returns where the gateway
 * sent the browser, and GET /api/me (with the csrfToken for mutating calls).
 */
export async function signIn(
  h: AuthHarness,
  role: TestRole,
  o: { browser?: Browser; returnTo?: string } = {},
): Promise<{ browser: Browser; location: string; me: Me }> {
  const browser = o.browser ?? new Browser(h.url);
  const authorizeUrl = await beginLogin(browser, o.returnTo);
  const { login, password } = h.idp.users[role];
  const { callbackUrl } = await authorizeWithPassword({ authorizeUrl, login, password });
  const cb = await browser.fetch(callbackUrl);
  const body = await cb.text();
  if (cb.status !== 303) throw new Error(`callback answered ${cb.status}: ${body.slice(0, 300)}`);
  const me = await browser.fetch('/api/me');
  if (me.status !== 200) throw new Error(`/api/me answered ${me.status}`);
  return { browser, location: cb.headers.get('location') ?? '', me: (await me.json()) as Me };
}

/** Every audit record written so far, parsed. */
export async function auditRecords(
  gw: Gateway,
): Promise<Array<{ type: string; actor: Record<string, unknown>; data?: Record<string, unknown> }>> {
  const text = await readFile(join(gw.storageDir, 'audit.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}
