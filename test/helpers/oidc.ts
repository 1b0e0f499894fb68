// A test OIDC provider (the embedded demo IdP, one user per role, one client) and a fetch-driven password login.
import {
  type DemoClient,
  type DemoUser,
  demoUsers,
  type IdentityProvider,
  startIdentityProvider,
} from '../../gateway/demo/identity-provider.js';

export type TestRole = 'vendor' | 'vendor2' | 'supervisor' | 'supervisor2' | 'auditor' | 'admin';

export interface TestIdp extends IdentityProvider {
  client: DemoClient;
  users: Record<TestRole, DemoUser>;
  /** Replace the client's redirect URIs, e.g. once the gateway under test knows its port. */
  setRedirectUris(uris: string[]): void;
}

export interface TestIdpOptions {
  redirectUris?: string[];
  pathPrefix?: string;
  clientId?: string;
  clientSecret?: string;
  tokenEndpointAuthMethod?: DemoClient['tokenEndpointAuthMethod'];
  sso?: boolean;
}

const roleOfLogin: Record<string, TestRole> = {
  'vendor@acme.example': 'vendor',
  'vendor2@beta.example': 'vendor2',
  'supervisor@plant.example': 'supervisor',
  'supervisor2@plant.example': 'supervisor2',
  'auditor@plant.example': 'auditor',
  'admin@plant.example': 'admin',
};

export async function startTestIdp(opts: TestIdpOptions = {}): Promise<TestIdp> {
  const client: DemoClient = {
    clientId: opts.clientId ?? 'gatehouse',
    clientSecret: opts.clientSecret ?? 'test-client-secret-0123456789abcdef',
    redirectUris: opts.redirectUris ?? ['http://127.0.0.1:9/auth/callback'],
    ...(opts.tokenEndpointAuthMethod ? { tokenEndpointAuthMethod: opts.tokenEndpointAuthMethod } : {}),
  };
  const list = demoUsers((login) => `pw-${roleOfLogin[login] ?? 'user'}-${Math.random().toString(36).slice(2)}`);
  const users = Object.fromEntries(list.map((u) => [roleOfLogin[u.login], u])) as Record<TestRole, DemoUser>;
  const idp = await startIdentityProvider({
    clients: [client],
    users: list,
    ...(opts.pathPrefix ? { pathPrefix: opts.pathPrefix } : {}),
    ...(opts.sso ? { sso: true } : {}),
  });
  const setRedirectUris = (uris: string[]) => {
    client.redirectUris = uris;
    idp.registerClient(client);
  };
  return { ...idp, client, users, setRedirectUris };
}

/** A minimal cookie jar: one host, path-scoped, honours deletion (Max-Age=0 / past Expires). */
export class CookieJar {
  private cookies = new Map<string, { value: string; path: string }>();

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';').map((p) => p.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k = '', v = ''] = a.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      const key = `${path}\n${name}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { value, path });
    }
  }

  header(url: URL): string {
    const out: string[] = [];
    for (const [key, { value, path }] of this.cookies) {
      const name = key.slice(key.indexOf('\n') + 1);
      if (url.pathname === path || url.pathname.startsWith(path.endsWith('/') ? path : `${path}/`)) {
        out.push(`${name}=${value}`);
      }
    }
    return out.join('; ');
  }
}

const unescapeHtml = (s: string): string =>
  s.replace(/&#(\d+);/g, (_m, d: string) => String.fromCharCode(Number(d))).replace(/&amp;/g, '&');

/**
 * Follows an authorization URL through the IdP's real login form (plain fetch, manual redirects, a cookie
 * jar) until the browser would go to the client's redirect_uri; returns that URL (code + state) uncalled,
 * and whether the password form was shown.
 * Throws if the IdP refuses the login (the message says why) or the flow does not end within maxSteps.
 */
export async function authorizeWithPassword(args: {
  authorizeUrl: string | URL;
  login: string;
  password: string;
  maxSteps?: number;
  timeoutMs?: number;
  /** Share one across calls to act like one browser (the IdP's session cookie is kept). */
  jar?: CookieJar;
}): Promise<{ callbackUrl: string; passwordAsked: boolean }> {
  const start = new URL(args.authorizeUrl);
  const redirectUri = start.searchParams.get('redirect_uri');
  if (!redirectUri) throw new Error('authorizeUrl has no redirect_uri');
  const target = new URL(redirectUri);
  const jar = args.jar ?? new CookieJar();
  let url = start;
  let init: RequestInit = { method: 'GET' };
  let submitted = false;
  for (let step = 0; step < (args.maxSteps ?? 20); step++) {
    if (url.origin === target.origin && url.pathname === target.pathname)
      return { callbackUrl: url.href, passwordAsked: submitted };
    const headers = new Headers(init.headers);
    const cookie = jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(url, {
      ...init,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(args.timeoutMs ?? 10_000),
    });
    jar.store(res.headers.getSetCookie());
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      url = new URL(location, url);
      init = { method: 'GET' };
      continue;
    }
    const body = await res.text();
    const alert = /role="alert">([^<]*)</.exec(body)?.[1];
    if (alert) throw new Error(`login refused (HTTP ${res.status}): ${unescapeHtml(alert)}`);
    const action = /<form method="post" action="([^"]+)"/.exec(body)?.[1];
    if (res.status !== 200 || !action || submitted) {
      throw new Error(`unexpected IdP response at ${url.pathname} (HTTP ${res.status}): ${body.slice(0, 300)}`);
    }
    submitted = true;
    url = new URL(unescapeHtml(action), url);
    const form = new URLSearchParams({ login: args.login, password: args.password });
    init = { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  throw new Error(`authorization did not reach ${redirectUri} within ${args.maxSteps ?? 20} steps`);
}
