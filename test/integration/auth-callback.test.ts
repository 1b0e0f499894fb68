// Hostile and broken callbacks: missing or foreign state, nonce and issuer mismatches, replays, IdP errors, outages.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/app.js';
import { startIdentityProvider } from '../../gateway/demo/identity-provider.js';
import { silentLogger } from '../../gateway/log.js';
import { testConfigWithOidc } from '../helpers/config.js';
import { authorizeWithPassword } from '../helpers/oidc.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { type AuthHarness, auditRecords, Browser, beginLogin, signIn, startAuthHarness } from '../helpers/web-login.js';

let h: AuthHarness;
beforeAll(async () => {
  h = await startAuthHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Runs the IdP part of a login begun in `browser`; returns the callback URL, not yet delivered. */
async function codeFor(browser: Browser, tamper?: (u: URL) => void): Promise<URL> {
  const authorizeUrl = await beginLogin(browser);
  tamper?.(authorizeUrl);
  const { callbackUrl } = await authorizeWithPassword({ authorizeUrl, ...h.idp.users.vendor });
  return new URL(callbackUrl);
}

async function lastFailure() {
  return (await auditRecords(h.gw)).filter((r) => r.type === 'auth.login_failed').at(-1);
}

const json = { accept: 'application/json' };

describe('login transaction binding', () => {
  it('refuses a callback without the login cookie (400 login_state_mismatch, audited)', async () => {
    const cb = await codeFor(new Browser(h.url));
    const res = await new Browser(h.url).fetch(cb.href, { headers: json });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'login_state_mismatch' } });
    expect((await lastFailure())?.data).toMatchObject({ reason: 'missing_login_cookie' });
  });

  it('refuses a state from another login transaction', async () => {
    const victim = new Browser(h.url);
    await beginLogin(victim); // the victim's own pending login
    const attackerCallback = await codeFor(new Browser(h.url)); // the attacker's code and state
    const res = await victim.fetch(attackerCallback.href, { headers: json });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'login_state_mismatch' } });
    expect((await lastFailure())?.data).toMatchObject({ reason: 'state_mismatch' });
    expect(victim.cookie('gh_session')).toBeUndefined();
  });

  it('refuses an ID token whose nonce is not the transaction’s', async () => {
    const b = new Browser(h.url);
    const cb = await codeFor(b, (u) => u.searchParams.set('nonce', 'nonce-chosen-by-attacker'));
    const res = await b.fetch(cb.href, { headers: json });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'login_failed' } });
    expect((await lastFailure())?.data).toMatchObject({ reason: 'nonce_mismatch' });
    expect(b.cookie('gh_session')).toBeUndefined();
  });

  it('refuses a callback naming another issuer (iss)', async () => {
    const b = new Browser(h.url);
    const cb = await codeFor(b);
    expect(cb.searchParams.get('iss')).toBe(h.idp.issuer);
    cb.searchParams.set('iss', 'https://evil.example/realms/plant');
    const res = await b.fetch(cb.href, { headers: json });
    expect(res.status).toBe(400);
    expect((await lastFailure())?.data).toMatchObject({ reason: 'issuer_mismatch' });
  });

  it('refuses a callback without iss from an IdP that promises it', async () => {
    const b = new Browser(h.url);
    const cb = await codeFor(b);
    cb.searchParams.delete('iss');
    const res = await b.fetch(cb.href, { headers: json });
    expect(res.status).toBe(400);
    expect((await lastFailure())?.data).toMatchObject({ reason: 'issuer_missing' });
  });

  it('refuses a replayed callback, and the IdP refuses the code a second time', async () => {
    const b = new Browser(h.url);
    const cb = await codeFor(b);
    const loginId = b.cookie('gh_login', '/auth/callback') ?? '';
    const tx = await h.gw.auth.logins.peek(loginId);
    expect(tx).toBeDefined();
    expect((await b.fetch(cb.href)).status).toBe(303);
    // The same URL again, from the same browser: the transaction was single-use.
    const replay = await b.fetch(cb.href, { headers: json });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: { code: 'login_state_mismatch' } });
    // And with the old login cookie put back by hand.
    const again = new Browser(h.url);
    again.jar.store([`gh_login=${loginId}; Path=/auth`]);
    const res = await again.fetch(cb.href, { headers: json });
    expect(res.status).toBe(400);
    expect((await lastFailure())?.data).toMatchObject({ reason: 'unknown_transaction' });
    // The IdP itself: an authorization code is good once, even with the right verifier and secret.
    const meta = (await (await fetch(`${h.idp.issuer}/.well-known/openid-configuration`)).json()) as {
      token_endpoint: string;
    };
    const token = await fetch(meta.token_endpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: cb.searchParams.get('code') ?? '',
        redirect_uri: `${h.url}/auth/callback`,
        code_verifier: tx?.codeVerifier ?? '',
        client_id: h.idp.client.clientId,
        client_secret: h.idp.client.clientSecret,
      }),
    });
    expect(token.status).toBe(400);
    expect(await token.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('IdP errors on the callback', () => {
  const evil = '<script>alert(1)</script>';

  it('shows error and error_description escaped on an HTML page, and audits them', async () => {
    const b = new Browser(h.url);
    const state = (await beginLogin(b)).searchParams.get('state') ?? '';
    const q = new URLSearchParams({
      error: 'access_denied',
      error_description: evil,
      state,
      iss: h.idp.issuer,
    });
    const res = await b.fetch(`/auth/callback?${q}`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('access_denied');
    expect((await lastFailure())?.data).toMatchObject({
      reason: 'idp_error',
      error: 'access_denied',
      description: evil,
    });
  });

  it('answers JSON to a client that asks for it', async () => {
    const b = new Browser(h.url);
    const state = (await beginLogin(b)).searchParams.get('state') ?? '';
    const res = await b.fetch(`/auth/callback?error=access_denied&state=${state}`, { headers: json });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'idp_error' } });
  });

  it('does not put a crafted link’s text on the page when no login of this browser is pending', async () => {
    const q = new URLSearchParams({
      error: 'access_denied',
      error_description: 'Call +1 555 0100 to unlock',
    });
    const res = await new Browser(h.url).fetch(`/auth/callback?${q}`);
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('555 0100');
  });

  it('follows the user cancelling at the IdP back to a refusal', async () => {
    const b = new Browser(h.url);
    const authorizeUrl = await beginLogin(b);
    const page = await fetch(authorizeUrl, { redirect: 'manual' });
    // Walk the IdP's redirects to its login form, then press Cancel.
    let url = new URL(page.headers.get('location') ?? '', authorizeUrl);
    const cookies = page.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const form = await fetch(url, { headers: { cookie: cookies }, redirect: 'manual' });
    const abort = /href="([^"]+\/abort)"/.exec(await form.text())?.[1] ?? '';
    url = new URL(abort, url);
    let res = await fetch(url, { headers: { cookie: cookies }, redirect: 'manual' });
    while (res.status >= 300 && res.status < 400 && !(res.headers.get('location') ?? '').startsWith(h.url)) {
      url = new URL(res.headers.get('location') ?? '', url);
      res = await fetch(url, { headers: { cookie: cookies }, redirect: 'manual' });
    }
    const cb = await b.fetch(res.headers.get('location') ?? '', { headers: json });
    expect(cb.status).toBe(400);
    expect(await cb.json()).toMatchObject({ error: { code: 'idp_error' } });
  });
});

describe('an unreachable IdP', () => {
  it('answers 503 idp_unavailable, keeps serving, and discovers again on the next login', async () => {
    const dir = await tempDir('gh-auth-idp-down-');
    const idpPort = await freePort();
    const port = await freePort();
    const secretFile = join(dir.path, 'secret');
    await writeFile(secretFile, 'down-test-secret-0123456789');
    const config = testConfigWithOidc(join(dir.path, 's'), {
      port,
      issuer: `http://127.0.0.1:${idpPort}/oidc`,
      clientId: 'gatehouse',
      clientSecretFile: secretFile,
    });
    const gw = await startGateway({ config, logger: silentLogger });
    try {
      const b = new Browser(config.http.publicUrl);
      const down = await b.fetch('/auth/login', { headers: json });
      expect(down.status).toBe(503);
      const body = (await down.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('idp_unavailable');
      expect(body.error.message).toMatch(/identity provider .* cannot be reached/);
      const page = await b.fetch('/auth/login');
      expect(page.status).toBe(503);
      expect(await page.text()).toContain('cannot be reached');
      expect((await b.fetch('/healthz')).status).toBe(200);

      const client = {
        clientId: 'gatehouse',
        clientSecret: 'down-test-secret-0123456789',
        redirectUris: [`${config.http.publicUrl}/auth/callback`],
      };
      const idp = await startIdentityProvider({
        port: idpPort,
        pathPrefix: '/oidc',
        clients: [client],
        users: [],
      });
      try {
        const up = await b.fetch('/auth/login');
        expect(up.status).toBe(303);
        expect(up.headers.get('location')).toContain(`127.0.0.1:${idpPort}/oidc/auth?`);
      } finally {
        await idp.close();
      }
    } finally {
      await gw.stop('test');
      await dir.remove();
    }
  });
});

describe('sign-in after refusals', () => {
  it('still works for the same browser', async () => {
    const b = new Browser(h.url);
    await codeFor(b);
    const { me } = await signIn(h, 'vendor', { browser: b });
    expect(me.roles).toEqual(['vendor']);
  });
});
