// The web bundle as a remote browser gets it: content-hashed names cached for good, the shell page never;
// brotli/gzip copies per Accept-Encoding; missing files a 404 rather than the shell; and the heavy libraries
// (xterm.js, asciinema-player, guacamole-common-js) fetched only by the pages that use them.
// Needs `npm run build` (it serves dist/web).
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickEncoding } from '../../gateway/http/static-assets.js';
import { webRoot } from '../../gateway/paths.js';
import { launchBrowser } from '../helpers/browser.js';
import { openAs } from '../helpers/e2e-people.js';
import { type AuthHarness, startAuthHarness } from '../helpers/web-login.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const HASHED = /^\/assets\/[a-z-]+-[A-Z0-9]{8}\.(?:js|css)$/;

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http, not fetch: fetch decodes br/gzip on its own, and these tests look at the bytes on the wire. */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, h.url), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Which library each built chunk carries, from its source map (the build's own account of what went in). */
async function chunkLibraries(): Promise<Map<string, Set<string>>> {
  const libs = new Map<string, Set<string>>();
  const dir = join(webRoot, 'assets');
  for (const file of await readdir(dir)) {
    if (!file.endsWith('.js')) continue;
    const { sources } = JSON.parse(await readFile(join(dir, `${file}.map`), 'utf8')) as { sources: string[] };
    const found = new Set<string>();
    for (const s of sources) {
      const m = /node_modules\/(@xterm\/xterm|asciinema-player|guacamole-common-js)\//.exec(s);
      if (m) found.add(m[1]!);
    }
    libs.set(`/assets/${file}`, found);
  }
  return libs;
}

let h: AuthHarness;
let html: string;
let refs: string[];

beforeAll(async () => {
  h = await startAuthHarness();
  html = (await get('/')).body.toString('utf8');
  refs = [...html.matchAll(/<(?:link|script)\b[^>]*\b(?:href|src)="([^"]+)"/g)].map((m) => m[1]!);
});
afterAll(async () => {
  await h?.close();
});

describe('hashed names and caching', () => {
  it('the shell page links only hashed files, each served 200 as immutable with its built bytes', async () => {
    const shell = await get('/connect/grt_anything');
    expect(shell.headers['cache-control']).toBe('no-store');
    expect(shell.body.toString('utf8')).toBe(html);
    const assets = refs.filter((r) => r !== '/favicon.svg');
    expect(assets.filter((r) => r.endsWith('.js')).length).toBeGreaterThanOrEqual(1);
    expect(assets.filter((r) => r.endsWith('.css'))).toHaveLength(2);
    for (const ref of assets) {
      expect(ref).toMatch(HASHED);
      const res = await get(ref);
      expect(res.status, ref).toBe(200);
      expect(res.headers['cache-control'], ref).toBe(IMMUTABLE);
      expect(res.headers['content-type'], ref).toMatch(ref.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      expect(res.body.equals(await readFile(join(webRoot, ref)))).toBe(true);
    }
    expect(html).toContain(`<script type="module" src="${assets.find((r) => r.endsWith('.js'))}"></script>`);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
  });

  it('fixed names keep a short cache, and the shell page is never cached under any name', async () => {
    const icon = await get('/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers['cache-control']).toBe('public, max-age=600');
    // styles.css under its fixed name stays for the gateway's own sign-in error page.
    expect((await get('/styles.css')).headers['cache-control']).toBe('public, max-age=600');
    const index = await get('/index.html');
    expect(index.headers['cache-control']).toBe('no-store');
  });

  it('answers missing files with a 404, never with the shell page', async () => {
    const js = refs.find((r) => r.endsWith('.js'))!;
    for (const path of [
      '/app.js',
      '/app-ABCDEFGH.js',
      '/assets/app-ABCDEFGH.js',
      '/assets/chunk-ZZZZZZZZ.css',
      '/vendor/asciinema-player.css',
      `${js}x`,
      '/assets/',
      '/assets/nothing',
    ]) {
      const res = await get(path, { 'accept-encoding': 'br, gzip' });
      expect(res.status, path).toBe(404);
      expect(res.headers['content-type'], path).toMatch(/^application\/json/);
      expect(res.headers['content-encoding'], path).toBeUndefined();
    }
    // Client routes still get the shell.
    expect((await get('/sessions/ses_0123')).body.toString('utf8')).toBe(html);
  });

  it('does not step outside the web root or serve dotfiles', async () => {
    const paths = [
      '/assets/..%2f..%2f..%2fpackage.json',
      '/assets/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/..%2f..%2fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/..%2f..%2fscripts%2fbuild-web.js',
      '/assets/..%5c..%5c..%5cscripts%5cbuild-web.js',
      '/assets/%00.js',
      '/assets/.hidden.js',
    ];
    for (const path of paths) {
      for (const enc of ['', 'br, gzip']) {
        const res = await get(path, enc ? { 'accept-encoding': enc } : {});
        expect([400, 403, 404], path).toContain(res.status);
        expect(res.headers['content-encoding'], path).toBeUndefined();
        expect(res.body.toString('utf8'), path).not.toMatch(/"name": "gatehouse"|esbuild/);
      }
    }
  });
});

describe('precompressed copies', () => {
  const big = () => refs.find((r) => r.endsWith('.js'))!;

  it('sends brotli when offered (preferred over gzip), gzip when only that is, both decoding to the file', async () => {
    const path = big();
    const identity = await readFile(join(webRoot, path));
    const br = await get(path, { 'accept-encoding': 'gzip, deflate, br, zstd' });
    expect(br.status).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(br.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(br.headers['cache-control']).toBe(IMMUTABLE);
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(br.body.length).toBeLessThan(identity.length / 2);
    expect(brotliDecompressSync(br.body).equals(identity)).toBe(true);

    const gz = await get(path, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toMatch(/accept-encoding/i);
    expect(gunzipSync(gz.body).equals(identity)).toBe(true);

    const plain = await get(path);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/accept-encoding/i);
    expect(plain.body.equals(identity)).toBe(true);

    // Each variant has its own validators, as express.static gives them, and revalidates on its own.
    for (const v of [br, gz, plain]) {
      expect(v.headers.etag).toBeTruthy();
      expect(v.headers['last-modified']).toBeTruthy();
    }
    expect(new Set([br.headers.etag, gz.headers.etag, plain.headers.etag]).size).toBe(3);
    const again = await get(path, { 'accept-encoding': 'br', 'if-none-match': String(br.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const head = await get(path, { 'accept-encoding': 'br' }, 'HEAD');
    expect(head.headers['content-encoding']).toBe('br');
    expect(Number(head.headers['content-length'])).toBe(br.body.length);
  });

  it('compresses the stylesheets too, and leaves small files as they are', async () => {
    for (const css of refs.filter((r) => r.endsWith('.css'))) {
      const res = await get(css, { 'accept-encoding': 'br' });
      expect(res.headers['content-encoding'], css).toBe('br');
      expect(res.headers['content-type'], css).toBe('text/css; charset=utf-8');
      expect(brotliDecompressSync(res.body).equals(await readFile(join(webRoot, css)))).toBe(true);
    }
    const icon = await get('/favicon.svg', { 'accept-encoding': 'br, gzip' });
    expect(icon.headers['content-encoding']).toBeUndefined();
    expect(icon.headers['content-type']).toMatch(/^image\/svg\+xml/);
  });

  it('honours what the client refuses or weighs lower', async () => {
    const path = big();
    expect((await get(path, { 'accept-encoding': 'identity' })).headers['content-encoding']).toBeUndefined();
    expect((await get(path, { 'accept-encoding': 'br;q=0, gzip;q=0' })).headers['content-encoding']).toBeUndefined();
    expect((await get(path, { 'accept-encoding': 'br;q=0.5, gzip' })).headers['content-encoding']).toBe('gzip');
    expect((await get(path, { 'accept-encoding': '*' })).headers['content-encoding']).toBe('br');
    expect((await get(path, { 'accept-encoding': 'compress, zstd' })).headers['content-encoding']).toBeUndefined();
  });

  it('parses hostile Accept-Encoding headers without choosing what was not offered', () => {
    expect(pickEncoding(undefined)).toBeUndefined();
    expect(pickEncoding('')).toBeUndefined();
    expect(pickEncoding(',,;;q=,')).toBeUndefined();
    expect(pickEncoding('BR')?.token).toBe('br');
    // Weights outside 0..1 are not weights: the token counts as bare (q=1).
    expect(pickEncoding('br;q=2, gzip;q=0.9')?.token).toBe('br');
    expect(pickEncoding('gzip;q=1.5, br;q=0.9')?.token).toBe('gzip');
    expect(pickEncoding('br;q=-1, gzip;q=0.5')?.token).toBe('br');
    expect(pickEncoding('br;q=0.000, gzip;q=0.001')?.token).toBe('gzip');
    expect(pickEncoding('*;q=0, gzip')?.token).toBe('gzip');
    expect(pickEncoding('br;q=0.001, identity')).toBeUndefined();
    expect(pickEncoding(`${'x,'.repeat(5000)}br`)).toBeUndefined(); // only the first KiB is read
  });

  it('answers a Range request with identity bytes, whatever encodings are offered', async () => {
    const path = big();
    const identity = await readFile(join(webRoot, path));
    const res = await get(path, { 'accept-encoding': 'br, gzip', range: 'bytes=100-199' });
    expect(res.status).toBe(206);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers['content-range']).toBe(`bytes 100-199/${identity.length}`);
    expect(res.body.equals(identity.subarray(100, 200))).toBe(true);
  });
});

describe('code splitting in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  /** The vendor signed in at `path` (with the bundle it fetched on the way), then the same page again from an empty cache. */
  async function firstLoad(path: string, ready: (p: Page) => Promise<unknown>) {
    const vendor = await openAs(browser, h, 'vendor', '', path);
    const p = vendor.page;
    await ready(p);
    const cdp = await p.context().newCDPSession(p);
    await cdp.send('Network.enable');
    await cdp.send('Network.clearBrowserCache');
    const urls = new Map<string, string>();
    let wire = 0;
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, new URL(e.request.url).pathname));
    cdp.on('Network.loadingFinished', (e) => {
      wire += e.encodedDataLength;
    });
    await p.reload();
    await ready(p);
    await p.waitForLoadState('networkidle');
    return { vendor, paths: [...urls.values()], wire: () => wire };
  }

  it('the home page never fetches the heavy libraries; the terminal page fetches xterm.js only', async () => {
    const libs = await chunkLibraries();
    const carrying = (paths: string[]) => new Set(paths.flatMap((u) => [...(libs.get(u) ?? [])]));
    // Each library went to a chunk of its own, none into the entry.
    const entry = refs.find((r) => r.endsWith('.js'))!;
    expect(libs.get(entry)).toEqual(new Set());
    for (const lib of ['@xterm/xterm', 'asciinema-player', 'guacamole-common-js'])
      expect(
        [...libs.values()].some((s) => s.has(lib)),
        lib,
      ).toBe(true);

    const home = await firstLoad('/', (p) => p.locator('#who-name').waitFor());
    expect(home.paths).toContain(entry);
    expect([...carrying(home.paths)]).toEqual([]);
    expect(home.vendor.errors).toEqual([]);

    const term = await firstLoad('/connect/grt_0000000000000000', (p) => p.locator('#term-status').waitFor());
    expect([...carrying(term.paths)]).toEqual(['@xterm/xterm']);
    expect(term.vendor.errors).toEqual([]);
    // Over the wire with compression, headers included (a figure for the record, not a bound).
    console.info(`first load, signed in: / ${home.wire()} bytes; /connect/:grantId ${term.wire()} bytes`);
    await home.vendor.context.close();
    await term.vendor.context.close();
  });

  it('says so, and offers a reload, when a page chunk does not arrive', async () => {
    const vendor = await openAs(browser, h, 'vendor', '', '/');
    const p = vendor.page;
    await p.locator('#who-name').waitFor();
    // The gateway upgraded under an open tab: the chunks this bundle names are gone.
    await p.route('**/assets/chunk-*.js', (r) =>
      r.fulfill({ status: 404, contentType: 'application/json', body: '{}' }),
    );
    await p.evaluate(() => {
      history.pushState(null, '', '/connect/grt_0000000000000000');
      dispatchEvent(new PopStateEvent('popstate'));
    });
    await p.locator('#page-load-error').waitFor();
    expect(await p.locator('#page-load-error [role=alert]').textContent()).toMatch(
      /could not be loaded|did not arrive/i,
    );
    expect(await p.title()).toBe('Terminal · Gatehouse');
    await p.unroute('**/assets/chunk-*.js');
    await p.locator('#page-load-error button', { hasText: 'Reload' }).click();
    await p.locator('#term-status').waitFor();
    await vendor.context.close();
  });
});
