// Proves the browser harness: Chromium signs the vendor in on the embedded IdP's real login page.

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { startTestIdp, type TestIdp } from '../helpers/oidc.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

describe('browser harness', () => {
  let browser: Browser;
  let idp: TestIdp;
  let callback: Server;
  let tmp: TempDir;
  let redirectUri = '';
  const received: URLSearchParams[] = [];

  beforeAll(async () => {
    tmp = await tempDir();
    // The redirect target: records what the IdP sends back.
    callback = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/auth/callback') received.push(u.searchParams); // not /favicon.ico
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Signed in</title><p>ok</p>');
    });
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', () => r()));
    redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/auth/callback`;
    idp = await startTestIdp({ redirectUris: [redirectUri], pathPrefix: '/oidc' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await idp?.close();
    await new Promise<void>((r) => (callback ? callback.close(() => r()) : r()));
    await tmp?.remove();
  });

  it('types the vendor login into the real login page and lands on the redirect_uri with code and state', async () => {
    const config = await client.discovery(
      new URL(idp.issuer),
      idp.client.clientId,
      idp.client.clientSecret,
      undefined,
      {
        execute: [client.allowInsecureRequests],
      },
    );
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile email groups',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state,
      nonce: client.randomNonce(),
    });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(url.href);
      await page.getByLabel('Username').waitFor({ timeout: 10_000 });
      const shot = join(tmp.path, 'login.png');
      await page.screenshot({ path: shot });
      const png = await readFile(shot);
      expect(png.length).toBeGreaterThan(1000);
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');

      await page.getByLabel('Username').fill(idp.users.vendor.login);
      await page.getByLabel('Password').fill('not-the-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect(page.getByRole('alert').textContent()).resolves.toContain('Wrong username or password');

      await page.getByLabel('Password').fill(idp.users.vendor.password);
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 10_000 }),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      expect(received).toHaveLength(1);
      expect(received[0]?.get('state')).toBe(state);
      expect(received[0]?.get('code')).toBeTruthy();
      expect(received[0]?.get('iss')).toBe(idp.issuer);
    } finally {
      await context.close();
    }
  });

  it('sends access_denied to the redirect_uri when the user cancels', async () => {
    const config = await client.discovery(
      new URL(idp.issuer),
      idp.client.clientId,
      idp.client.clientSecret,
      undefined,
      {
        execute: [client.allowInsecureRequests],
      },
    );
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'cancel-state',
    });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(url.href);
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 10_000 }),
        page.getByRole('link', { name: 'Cancel' }).click(),
      ]);
      const last = received.at(-1);
      expect(last?.get('error')).toBe('access_denied');
      expect(last?.get('state')).toBe('cancel-state');
    } finally {
      await context.close();
    }
  });
});
