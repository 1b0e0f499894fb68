// Web sessions and request guards: idle/absolute expiry, logout, CSRF, Origin, rate limits, and the refusal audit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/clock.js';
import { type AuthHarness, auditRecords, Browser, signIn, startAuthHarness } from '../helpers/web-login.js';

const MIN = 60_000;
const clock = new ManualClock();
let h: AuthHarness;
const ended: Array<[string, string]> = [];

beforeAll(async () => {
  h = await startAuthHarness({ clock });
  h.gw.auth.sessions.onSessionEnded((id, reason) => ended.push([id, reason]));
});
afterAll(async () => {
  await h?.close();
});

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

async function denials() {
  return (await auditRecords(h.gw)).filter((r) => r.type === 'access.denied');
}

describe('session expiry (injected clock)', () => {
  it('refuses a session idle for more than 30 minutes, deletes it and audits both', async () => {
    const { browser } = await signIn(h, 'vendor');
    const id = browser.cookie('gh_session') ?? '';
    clock.advance(29 * MIN);
    expect((await browser.fetch('/api/me')).status).toBe(200); // activity moves the idle deadline
    clock.advance(29 * MIN);
    expect((await browser.fetch('/api/me')).status).toBe(200);
    clock.advance(30 * MIN + 1);
    const res = await browser.fetch('/api/me');
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('session_expired');
    expect(h.gw.store.data.webSessions.some((s) => s.id === id)).toBe(false);
    expect(ended).toContainEqual([id, 'idle_timeout']);
    const logout = (await auditRecords(h.gw)).filter((r) => r.type === 'auth.logout').at(-1);
    expect(logout?.data).toMatchObject({ reason: 'idle_timeout' });
    expect((await denials()).at(-1)?.data).toMatchObject({
      code: 'session_expired',
      method: 'GET',
      path: '/api/me',
      ip: '127.0.0.1',
    });
  });

  it('refuses a session older than 12 hours however active it was', async () => {
    const { browser } = await signIn(h, 'auditor');
    for (let t = 0; t < 12 * 60 - 25; t += 25) {
      clock.advance(25 * MIN);
      expect((await browser.fetch('/api/me')).status).toBe(200);
    }
    clock.advance(25 * MIN);
    const res = await browser.fetch('/api/me');
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('session_expired');
    expect(ended.at(-1)?.[1]).toBe('absolute_timeout');
  });

  it('writes lastSeenAt at most once a minute', async () => {
    const { browser } = await signIn(h, 'vendor');
    const id = browser.cookie('gh_session') ?? '';
    const seen = () => h.gw.store.data.webSessions.find((s) => s.id === id)?.lastSeenAt;
    const first = seen();
    clock.advance(30_000);
    await browser.fetch('/api/me');
    expect(seen()).toBe(first);
    clock.advance(31_000);
    await browser.fetch('/api/me');
    expect(seen()).not.toBe(first);
  });

  it('sweeps expired sessions nobody uses any more', async () => {
    const { browser } = await signIn(h, 'supervisor');
    const id = browser.cookie('gh_session') ?? '';
    clock.advance(31 * MIN);
    expect(await h.gw.auth.sessions.sweep()).toBeGreaterThanOrEqual(1);
    expect(h.gw.store.data.webSessions.some((s) => s.id === id)).toBe(false);
    expect(ended).toContainEqual([id, 'idle_timeout']);
  });
});

describe('logout', () => {
  it('needs the CSRF token, deletes the session everywhere and tells listeners', async () => {
    const { browser, me } = await signIn(h, 'vendor');
    const id = browser.cookie('gh_session') ?? '';
    const noToken = await browser.fetch('/auth/logout', { method: 'POST' });
    expect(noToken.status).toBe(403);
    expect(await errorCode(noToken)).toBe('csrf_failed');
    const res = await browser.fetch('/auth/logout', {
      method: 'POST',
      headers: { 'x-csrf-token': me.csrfToken },
    });
    expect(res.status).toBe(204);
    expect(browser.cookie('gh_session')).toBeUndefined();
    expect(h.gw.store.data.webSessions.some((s) => s.id === id)).toBe(false);
    expect(ended).toContainEqual([id, 'logout']);
    // A copy of the cookie kept elsewhere is refused now.
    const copy = new Browser(h.url);
    copy.jar.store([`gh_session=${id}; Path=/`]);
    const after = await copy.fetch('/api/me');
    expect(after.status).toBe(401);
    expect(await errorCode(after)).toBe('login_required');
    const logout = (await auditRecords(h.gw)).filter((r) => r.type === 'auth.logout').at(-1);
    expect(logout?.actor).toMatchObject({ kind: 'user', id: me.id });
    expect(logout?.data).toMatchObject({ reason: 'logout' });
  });

  it('is a no-op without a session', async () => {
    expect((await new Browser(h.url).fetch('/auth/logout', { method: 'POST' })).status).toBe(204);
  });
});

describe('CSRF and Origin', () => {
  it('refuses a mutating API call without the CSRF token, or with a wrong one', async () => {
    const { browser, me } = await signIn(h, 'vendor');
    const post = (headers: Record<string, string>) =>
      browser.fetch('/api/me/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });
    const missing = await post({});
    expect(missing.status).toBe(403);
    expect(await errorCode(missing)).toBe('csrf_failed');
    const wrong = await post({ 'x-csrf-token': `${me.csrfToken.slice(0, -1)}x` });
    expect(wrong.status).toBe(403);
    expect(await errorCode(wrong)).toBe('csrf_failed');
    // The right token gets past the guard (to whatever route is there, or 404).
    expect((await post({ 'x-csrf-token': me.csrfToken })).status).not.toBe(403);
    const recorded = (await denials()).filter((r) => r.data?.code === 'csrf_failed').at(-1);
    expect(recorded?.actor).toMatchObject({ kind: 'user', id: me.id });
    expect(recorded?.data).toMatchObject({ method: 'POST', path: '/api/me/keys' });
  });

  it('refuses a mutating call without a session before any handler runs', async () => {
    const res = await new Browser(h.url).fetch('/api/requests', { method: 'POST' });
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('login_required');
  });

  it('refuses a foreign Origin on the API and on /auth, even with a valid session and token', async () => {
    const { browser, me } = await signIn(h, 'admin');
    const headers = { origin: 'https://evil.example', 'x-csrf-token': me.csrfToken };
    const api = await browser.fetch('/api/me', { headers });
    expect(api.status).toBe(403);
    expect(await errorCode(api)).toBe('origin_refused');
    const out = await browser.fetch('/auth/logout', { method: 'POST', headers });
    expect(out.status).toBe(403);
    expect(await errorCode(out)).toBe('origin_refused');
    expect((await browser.fetch('/api/me', { headers: { origin: 'null' } })).status).toBe(403);
    expect((await browser.fetch('/api/me', { headers: { origin: h.url } })).status).toBe(200);
    expect((await denials()).at(-1)?.data).toMatchObject({ code: 'origin_refused' });
  });

  it("does not audit the sign-in page's own GET /api/me probe, but audits other anonymous API calls", async () => {
    const before = (await denials()).length;
    expect((await new Browser(h.url).fetch('/api/me')).status).toBe(401);
    expect((await new Browser(h.url).fetch('/api/me?x=1')).status).toBe(401);
    expect((await denials()).length).toBe(before);
    expect((await new Browser(h.url).fetch('/api/targets')).status).toBe(401);
    expect((await denials()).at(-1)).toMatchObject({
      actor: { kind: 'anonymous', ip: '127.0.0.1' },
      data: { code: 'login_required', method: 'GET', path: '/api/targets' },
    });
  });
});

describe('rate limits', () => {
  let limited: AuthHarness;
  const lclock = new ManualClock();
  beforeAll(async () => {
    limited = await startAuthHarness({ clock: lclock, auth: { loginPerMinute: 3 } });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('answers 429 with Retry-After past the limit on /auth/login and /auth/callback, then lets up', async () => {
    const b = new Browser(limited.url);
    for (let i = 0; i < 3; i++) expect((await b.fetch('/auth/login')).status).toBe(303);
    const res = await b.fetch('/auth/login');
    expect(res.status).toBe(429);
    expect(await errorCode(res)).toBe('rate_limited');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await b.fetch('/auth/callback?code=x&state=y')).status).toBe(429);
    lclock.advance(61_000);
    expect((await b.fetch('/auth/login')).status).toBe(303);
  });
});
