// Proves the test IdP: openid-client v6 discovers it, and a password login yields an ID token with role claims.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeWithPassword, CookieJar, startTestIdp, type TestIdp } from '../helpers/oidc.js';

const redirectUri = 'http://127.0.0.1:9/auth/callback';

describe('embedded identity provider (harness)', () => {
  let idp: TestIdp;
  let config: client.Configuration;

  beforeAll(async () => {
    idp = await startTestIdp({ redirectUris: [redirectUri], pathPrefix: '/oidc' });
    config = await client.discovery(new URL(idp.issuer), idp.client.clientId, idp.client.clientSecret, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });
  afterAll(async () => {
    await idp?.close();
  });

  async function authorizationRequest(extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile email groups',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, verifier, state, nonce };
  }

  it('serves discovery under the prefix with PKCE S256 and the groups scope', () => {
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(idp.issuer);
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oidc$/);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'groups']));
  });

  it('signs the vendor in with a password and issues an ID token with sub, email, groups and org', async () => {
    const { url, verifier, state, nonce } = await authorizationRequest();
    const vendor = idp.users.vendor;
    const { callbackUrl } = await authorizeWithPassword({ authorizeUrl: url, ...vendor });
    expect(new URL(callbackUrl).searchParams.get('state')).toBe(state);
    const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    expect(claims).toMatchObject({
      iss: idp.issuer,
      sub: vendor.sub,
      email: 'vendor@acme.example',
      name: vendor.name,
      groups: ['vendors'],
      org: 'Acme Automation',
    });
    const info = await client.fetchUserInfo(config, tokens.access_token, vendor.sub);
    expect(info.groups).toEqual(['vendors']);
  });

  it('asks for the password again in the same browser (no silent SSO between demo users)', async () => {
    const jar = new CookieJar();
    for (let i = 0; i < 2; i++) {
      const { url } = await authorizationRequest();
      const r = await authorizeWithPassword({ authorizeUrl: url, ...idp.users.supervisor, jar });
      expect(r.passwordAsked).toBe(true);
      expect(new URL(r.callbackUrl).searchParams.get('code')).toBeTruthy();
    }
  });

  it('keeps the IdP session between sign-ins when started with sso', async () => {
    const sso = await startTestIdp({ redirectUris: [redirectUri], sso: true });
    try {
      const c = await client.discovery(new URL(sso.issuer), sso.client.clientId, sso.client.clientSecret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const jar = new CookieJar();
      const asked: boolean[] = [];
      for (let i = 0; i < 2; i++) {
        const code_challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
        const url = client.buildAuthorizationUrl(c, {
          redirect_uri: redirectUri,
          scope: 'openid',
          code_challenge,
          code_challenge_method: 'S256',
        });
        asked.push((await authorizeWithPassword({ authorizeUrl: url, ...sso.users.admin, jar })).passwordAsked);
      }
      expect(asked).toEqual([true, false]);
    } finally {
      await sso.close();
    }
  });

  it('refuses a wrong password with a message and never reaches the callback', async () => {
    const { url } = await authorizationRequest();
    const attempt = authorizeWithPassword({
      authorizeUrl: url,
      login: idp.users.vendor.login,
      password: 'wrong',
    });
    await expect(attempt).rejects.toThrow(/login refused \(HTTP 401\): Wrong username or password/);
  });

  it('refuses an authorization request without PKCE', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      state: 's',
    });
    const res = await fetch(url, { redirect: 'manual' });
    const location = new URL(res.headers.get('location') ?? '', url);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('accepts a redirect URI registered after start', async () => {
    const later = 'http://127.0.0.1:10/auth/callback';
    idp.setRedirectUris([later]);
    try {
      const { url, state } = await authorizationRequest({ redirect_uri: later });
      const { callbackUrl } = await authorizeWithPassword({ authorizeUrl: url, ...idp.users.auditor });
      expect(callbackUrl.startsWith(`${later}?`)).toBe(true);
      expect(new URL(callbackUrl).searchParams.get('state')).toBe(state);
    } finally {
      idp.setRedirectUris([redirectUri]);
    }
  });
});
