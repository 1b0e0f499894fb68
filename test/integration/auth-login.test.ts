// Sign-in end to end against the embedded IdP: roles per user, returnTo, session rotation, identity binding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUser, startIdentityProvider } from '../../gateway/demo/identity-provider.js';
import { authorizeWithPassword, type TestIdp, type TestRole } from '../helpers/oidc.js';
import { type AuthHarness, auditRecords, Browser, beginLogin, signIn, startAuthHarness } from '../helpers/web-login.js';

let h: AuthHarness;
beforeAll(async () => {
  h = await startAuthHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('sign-in happy path', () => {
  const cases: Array<[TestRole, string[], string]> = [
    ['vendor', ['vendor'], 'Acme Automation'],
    ['supervisor', ['supervisor'], 'plant.example'],
    ['auditor', ['auditor'], 'plant.example'],
    ['admin', ['admin'], 'plant.example'],
  ];
  it.each(cases)('signs the %s in with roles %j and org %s', async (role, roles, org) => {
    const { me, location, browser } = await signIn(h, role);
    expect(location).toBe('/');
    expect(me).toMatchObject({ email: h.idp.users[role].email, name: h.idp.users[role].name, roles, org });
    expect(me.id).toMatch(/^usr_[0-9a-f]{24}$/);
    expect(me.csrfToken.length).toBeGreaterThanOrEqual(43);
    expect(me).toMatchObject({ totpEnrolled: false, stepUpUntil: null });
    // The session cookie is HttpOnly, SameSite=Lax, Path=/ and holds only a random 32-byte id.
    const id = browser.cookie('gh_session') ?? '';
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    const user = h.gw.store.data.users.find((u) => u.id === me.id);
    expect(user).toMatchObject({ issuer: h.idp.issuer, subject: h.idp.users[role].sub });
    const login = (await auditRecords(h.gw)).filter((r) => r.type === 'auth.login').at(-1);
    expect(login?.actor).toMatchObject({ kind: 'user', id: me.id });
    expect(login?.data).toMatchObject({ issuer: h.idp.issuer, subject: h.idp.users[role].sub, roles });
    // The audit log names the session by a digest: the id is a bearer secret.
    expect(JSON.stringify(login)).not.toContain(id);
  });

  it('sets the cookie attributes a browser needs to keep it to this site', async () => {
    const b = new Browser(h.url);
    const authorizeUrl = await beginLogin(b);
    const { callbackUrl } = await authorizeWithPassword({ authorizeUrl, ...h.idp.users.vendor });
    const res = await b.fetch(callbackUrl);
    const set = res.headers.getSetCookie().find((c) => c.startsWith('gh_session=')) ?? '';
    expect(set).toMatch(/; HttpOnly/i);
    expect(set).toMatch(/; SameSite=Lax/i);
    expect(set).toMatch(/; Path=\//);
    expect(set).not.toMatch(/Secure/i); // http publicUrl in tests; https gets Secure and __Host-
  });

  it('sends PKCE S256, state, nonce and the configured scopes to the IdP', async () => {
    const url = await beginLogin(new Browser(h.url));
    expect(url.origin + url.pathname).toBe(`${h.idp.issuer}/auth`);
    const p = url.searchParams;
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(p.get('state')).toBeTruthy();
    expect(p.get('nonce')).toBeTruthy();
    expect(p.get('scope')).toBe('openid profile email groups');
    expect(p.get('redirect_uri')).toBe(`${h.url}/auth/callback`);
  });

  it('refreshes the user from the IdP at each login and keeps the same id', async () => {
    const first = await signIn(h, 'vendor2');
    const second = await signIn(h, 'vendor2');
    expect(second.me.id).toBe(first.me.id);
    expect(h.gw.store.data.users.filter((u) => u.subject === h.idp.users.vendor2.sub)).toHaveLength(1);
  });
});

describe('returnTo', () => {
  it('keeps a same-origin relative path', async () => {
    expect((await signIn(h, 'auditor', { returnTo: '/requests?x=1' })).location).toBe('/requests?x=1');
  });

  it.each([
    '//evil.example',
    '/\\evil.example',
    'https://evil.example',
    '/%2F%2Fevil.example',
    '/%5Cevil.example',
    'javascript:alert(1)',
    '/auth/logout',
  ])('sends %s to / instead', async (returnTo) => {
    expect((await signIn(h, 'auditor', { returnTo })).location).toBe('/');
  });
});

describe('session fixation', () => {
  it('mints a new session id at login and deletes the one the browser had before', async () => {
    const { browser } = await signIn(h, 'supervisor');
    const before = browser.cookie('gh_session') ?? '';
    expect(h.gw.store.data.webSessions.some((s) => s.id === before)).toBe(true);
    await signIn(h, 'supervisor', { browser });
    const after = browser.cookie('gh_session') ?? '';
    expect(after).not.toBe(before);
    expect(h.gw.store.data.webSessions.some((s) => s.id === before)).toBe(false);
    // The old id is worthless now, in any browser.
    const thief = new Browser(h.url);
    thief.jar.store([`gh_session=${before}; Path=/`]);
    expect((await thief.fetch('/api/me')).status).toBe(401);
  });

  it('never authenticates an id planted before login', async () => {
    const b = new Browser(h.url);
    b.jar.store(['gh_session=planted-by-attacker; Path=/']);
    await signIn(h, 'vendor', { browser: b });
    expect(b.cookie('gh_session')).not.toBe('planted-by-attacker');
  });
});

describe('identity binding and roles', () => {
  let idp: TestIdp;
  let h2: AuthHarness;
  const people: DemoUser[] = [
    {
      sub: 'sub-a',
      login: 'a',
      password: 'pw-a',
      name: 'Ann A',
      email: 'shared@corp.example',
      groups: ['vendors'],
    },
    {
      sub: 'sub-b',
      login: 'b',
      password: 'pw-b',
      name: 'Ann B',
      email: 'shared@corp.example',
      groups: ['vendors'],
    },
    {
      sub: 'sub-c',
      login: 'c',
      password: 'pw-c',
      name: 'No Role',
      email: 'c@x.example',
      groups: ['contractors'],
    },
  ];

  beforeAll(async () => {
    const client = {
      clientId: 'gatehouse',
      clientSecret: 'another-test-secret-0123456789',
      redirectUris: ['http://127.0.0.1:9/cb'],
    };
    const base = await startIdentityProvider({ clients: [client], users: people, pathPrefix: '/oidc' });
    const users = {
      vendor: people[0],
      vendor2: people[1],
      auditor: people[2],
    } as unknown as TestIdp['users'];
    const setRedirectUris = (uris: string[]) => base.registerClient({ ...client, redirectUris: uris });
    idp = { ...base, client, users, setRedirectUris };
    h2 = await startAuthHarness({ idp });
  });
  afterAll(async () => {
    await h2?.close();
    await idp?.close();
  });

  it('treats the same e-mail under another subject as a different user', async () => {
    const a = await signIn(h2, 'vendor');
    const b = await signIn(h2, 'vendor2');
    expect(a.me.email).toBe(b.me.email);
    expect(a.me.id).not.toBe(b.me.id);
    expect(a.me.name).toBe('Ann A');
    expect(b.me.name).toBe('Ann B');
    expect(a.me.org).toBe('corp.example'); // no org claim: the e-mail domain
  });

  it('refuses a user whose groups map to no role, with a 403 page, and audits it', async () => {
    await expect(signIn(h2, 'auditor')).rejects.toThrow(/callback answered 403.*no Gatehouse role/s);
    expect(h2.gw.store.data.users.some((u) => u.subject === 'sub-c')).toBe(false);
    const failed = (await auditRecords(h2.gw)).filter((r) => r.type === 'auth.login_failed').at(-1);
    expect(failed?.actor).toMatchObject({ kind: 'anonymous', ip: '127.0.0.1' });
    expect(failed?.data).toMatchObject({ reason: 'no_role', subject: 'sub-c', groups: ['contractors'] });
  });
});

describe('admin check for /metrics', () => {
  it('reads roles from the server-side session, never from the request', async () => {
    const admin = await signIn(h, 'admin');
    const vendor = await signIn(h, 'vendor');
    expect(h.gw.auth.sessions.peek(withCookies(admin.browser))?.user.roles).toContain('admin');
    expect(h.gw.auth.sessions.peek(withCookies(vendor.browser))?.user.roles).toEqual(['vendor']);
    expect(h.gw.auth.sessions.peek(withCookies(new Browser(h.url)))).toBeUndefined();
  });
});

function withCookies(b: Browser) {
  return { headers: { cookie: b.jar.header(new URL('/metrics', b.base)) } } as never;
}
