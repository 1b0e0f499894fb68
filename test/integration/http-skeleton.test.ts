// The HTTP front of a running gateway: health, metrics, error format, limits, headers, graceful stop.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../gateway/app.js';
import { silentLogger } from '../../gateway/log.js';
import { Store } from '../../gateway/store.js';
import { testConfig } from '../helpers/config.js';

let dir: string;
let gw: Gateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gh-http-'));
  gw = await startGateway({ config: testConfig(dir), logger: silentLogger });
});
afterAll(async () => {
  await gw?.stop('test');
  await rm(dir, { recursive: true, force: true });
});

describe('HTTP skeleton', () => {
  it('answers /healthz with the site and the audit head', async () => {
    const res = await fetch(`${gw.http.url}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.status).toBe('ok');
    expect(body.site).toBe('Test plant');
    expect(body.auditSeq).toBeGreaterThanOrEqual(1);
  });

  it('sends a strict Content-Security-Policy with no inline code and no foreign origins', async () => {
    const res = await fetch(`${gw.http.url}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    // Inline styles only (xterm.js writes <style> at run time); never inline script.
    expect(csp).toMatch(/script-src 'self'( 'wasm-unsafe-eval')?(;|$)/);
    expect(csp).toContain("style-src 'self' 'unsafe-inline'");
    expect(csp.match(/unsafe-inline/g)).toHaveLength(1);
    // 'wasm-unsafe-eval' (WebAssembly compilation only, for the replay player) is allowed; eval is not.
    expect(csp).not.toMatch(/(?<!wasm-)unsafe-eval/);
    expect(csp).not.toMatch(/https?:\/\//);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves the bundled web app shell with no inline script', async () => {
    const res = await fetch(`${gw.http.url}/some/client/route`);
    expect(res.status).toBe(200);
    const html = await res.text();
    // The bundle's name carries its content hash (scripts/build-web.js; test/integration/web-assets.test.ts).
    const src = /<script type="module" src="(\/assets\/app-[A-Z0-9]{8}\.js)"><\/script>/.exec(html)?.[1];
    expect(src).toBeDefined();
    expect(html).not.toMatch(/<script>(?!<)/);
    const js = await fetch(`${gw.http.url}${src}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('javascript');
  });

  it('answers unknown API routes in the documented error format', async () => {
    const res = await fetch(`${gw.http.url}/api/no-such-thing`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no such route' } });
  });

  it('refuses an oversized body with 413 and malformed JSON with 400', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(200_000) });
    const res = await fetch(`${gw.http.url}/api/anything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('body_too_large');

    const bad = await fetch(`${gw.http.url}/api/anything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
  });

  it('serves Prometheus metrics to loopback', async () => {
    const res = await fetch(`${gw.http.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('gatehouse_http_requests_total');
    expect(text).toContain('gatehouse_process_cpu_seconds_total');
  });

  it('refuses /metrics to loopback that speaks for someone else (a reverse proxy on this host), audited', async () => {
    const proxied: Array<Record<string, string>> = [
      { 'x-forwarded-for': '203.0.113.7' },
      { forwarded: 'for=203.0.113.7' },
      { 'x-real-ip': '203.0.113.7' },
    ];
    for (const headers of proxied) {
      const res = await fetch(`${gw.http.url}/metrics`, { headers });
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain('gatehouse_http_requests_total');
    }
    const log = (await readFile(join(gw.storageDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data?: { path?: string } });
    expect(log.filter((a) => a.type === 'access.denied' && a.data?.path === '/metrics')).toHaveLength(3);
  });
});

describe('graceful stop', () => {
  it('records gateway.stopped, signs a final checkpoint and releases the store lock', async () => {
    const d = await mkdtemp(join(tmpdir(), 'gh-stop-'));
    try {
      const g = await startGateway({ config: testConfig(d), logger: silentLogger });
      const url = g.http.url;
      await g.stop('test');
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      const lines = (await readFile(join(d, 'audit.jsonl'), 'utf8')).trim().split('\n');
      const types = lines.map((l) => (JSON.parse(l) as { type: string }).type);
      // The log opens with its own signed genesis checkpoint; the gateway's first event follows.
      expect(types.filter((t) => t !== 'audit.checkpoint')[0]).toBe('gateway.started');
      expect(types).toContain('gateway.stopped');
      expect(types.at(-1)).toBe('audit.checkpoint');
      // The lock is released: the same storage opens again.
      const s = await Store.open({ dir: d, logger: silentLogger });
      await s.close();
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
