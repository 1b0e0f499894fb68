// A request body over the bound is a refusal like any other: 413 body_too_large, one access.denied naming the
// signed-in user (or anonymous and the address), the path and the bound, never a byte of the body; rate-limited
// per IP like the rest; the gateway serves on. Real gateway and IdP, real sign-in, as in ssh-keys.test.ts.
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../gateway/clock.js';
import { MAX_JSON_BODY } from '../../gateway/http/http.js';
import { type AuthHarness, auditRecords, Browser, type Me, signIn, startAuthHarness } from '../helpers/web-login.js';

/** Refusals audited per IP a minute here: small, so a short burst goes past it. */
const PER_MINUTE = 3;
/** What the oversized bodies are made of: it must never reach the audit log. */
const MARKER = 'NEVER-IN-THE-AUDIT-LOG-';
const TOO_LARGE = {
  error: { code: 'body_too_large', message: `request body is too large (at most ${MAX_JSON_BODY} bytes)` },
};

/** Real time plus an offset: the refusal limiter's minute moves on without waiting for it. */
const clock: Clock & { offset: number } = { offset: 0, now: () => Date.now() + clock.offset };
const nextMinute = () => void (clock.offset += 61_000);

let h: AuthHarness;
let vendor: { browser: Browser; me: Me };
beforeAll(async () => {
  h = await startAuthHarness({ clock, auth: { refusalsPerMinute: PER_MINUTE } });
  vendor = await signIn(h, 'vendor');
}, 60_000);
afterAll(async () => h?.close());

/** A JSON body of exactly `bytes` bytes, its one string made of MARKER. */
const jsonOf = (bytes: number) => {
  const shell = '{"publicKey":""}';
  return `{"publicKey":"${Buffer.alloc(bytes - shell.length, MARKER).toString('latin1')}"}`;
};
const post = (browser: Browser, path: string, body: string) =>
  browser.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': vendor.me.csrfToken },
    body,
  });
const anonymous = () => new Browser(h.url);
/** The body_too_large records, oldest first. */
const bodyRefusals = async () =>
  (await auditRecords(h.gw)).filter((a) => a.type === 'access.denied' && a.data?.code === 'body_too_large');
const denials = async () => (await auditRecords(h.gw)).filter((a) => a.type === 'access.denied');
const auditText = () => readFile(join(h.gw.storageDir, 'audit.jsonl'), 'utf8');

/** A chunked POST (no Content-Length: the size is learnt only by reading) of `chunks` × 4 KiB of MARKER. */
function chunkedPost(path: string, chunks: number): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, h.url),
      { method: 'POST', headers: { 'content-type': 'application/json' }, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.write('{"publicKey":"');
    for (let i = 0; i < chunks; i++) req.write(Buffer.alloc(4096, MARKER));
    req.end('"}');
  });
}

describe('a request body over the bound', () => {
  it('signed in: 413 with the bound, one access.denied naming the user, path and bound, no byte of the body', async () => {
    nextMinute();
    const before = (await bodyRefusals()).length;
    const res = await post(vendor.browser, '/api/me/keys?token=query-secret', jsonOf(MAX_JSON_BODY + 1));
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual(TOO_LARGE);

    const records = await bodyRefusals();
    expect(records).toHaveLength(before + 1);
    expect(records.at(-1)).toEqual({
      ...records.at(-1),
      actor: expect.objectContaining({ kind: 'user', id: vendor.me.id, ip: '127.0.0.1' }),
      data: {
        code: 'body_too_large',
        status: 413,
        method: 'POST',
        path: '/api/me/keys',
        maxBodyBytes: MAX_JSON_BODY,
        ip: '127.0.0.1',
      },
    });
    const text = await auditText();
    expect(text).not.toContain(MARKER);
    expect(text).not.toContain('query-secret');

    // At the bound the body is read and the route answers (400: not a key); a malformed body is 400 too. Neither
    // is a refusal, and the gateway serves on.
    const atBound = await post(vendor.browser, '/api/me/keys', jsonOf(MAX_JSON_BODY));
    expect(atBound.status).toBe(400);
    await atBound.body?.cancel();
    const malformed = await post(vendor.browser, '/api/me/keys', '{"publicKey":');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    expect((await bodyRefusals()).length).toBe(before + 1);
    expect((await denials()).filter((a) => a.data?.path === '/api/me/keys')).toHaveLength(before + 1);
    expect((await vendor.browser.fetch('/api/me')).status).toBe(200);
  });

  it('without a sign-in (API and /auth, chunked, gzip that inflates past it): audited as anonymous with the IP', async () => {
    nextMinute();
    const before = (await bodyRefusals()).length;
    const plain = await anonymous().fetch('/api/requests', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: jsonOf(MAX_JSON_BODY + 1),
    });
    expect(plain.status).toBe(413);
    expect(await plain.json()).toEqual(TOO_LARGE);
    // No Content-Length: refused once the bytes read pass the bound.
    expect(await chunkedPost('/auth/logout', 20)).toEqual({ status: 413, json: TOO_LARGE });
    // A few hundred bytes on the wire, four times the bound once inflated: the bound is on what is parsed.
    const bomb = gzipSync(Buffer.from(jsonOf(MAX_JSON_BODY * 4)));
    expect(bomb.length).toBeLessThan(MAX_JSON_BODY / 16);
    const zipped = await anonymous().fetch('/api/requests', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: bomb,
    });
    expect(zipped.status).toBe(413);

    const records = (await bodyRefusals()).slice(before);
    expect(records.map((a) => [a.actor, a.data?.path, a.data?.maxBodyBytes])).toEqual([
      [{ kind: 'anonymous', ip: '127.0.0.1' }, '/api/requests', MAX_JSON_BODY],
      [{ kind: 'anonymous', ip: '127.0.0.1' }, '/auth/logout', MAX_JSON_BODY],
      [{ kind: 'anonymous', ip: '127.0.0.1' }, '/api/requests', MAX_JSON_BODY],
    ]);
    expect(await auditText()).not.toContain(MARKER);
  });

  it('a burst is rate-limited like other refusals: the rest counted, the count audited next; the gateway serves on', async () => {
    nextMinute();
    const before = (await denials()).length;
    const burst = 8;
    for (let i = 0; i < burst; i++) {
      const res = await post(vendor.browser, '/api/me/keys', jsonOf(MAX_JSON_BODY + 1 + i));
      expect(res.status).toBe(413);
      await res.body?.cancel();
    }
    expect((await denials()).slice(before)).toHaveLength(PER_MINUTE);
    expect((await vendor.browser.fetch('/api/me')).status).toBe(200);

    // A minute on, the next refusal is audited and carries what was only counted (or the hook's minute flush did).
    nextMinute();
    const late = await post(vendor.browser, '/api/me/keys', jsonOf(MAX_JSON_BODY + 1));
    expect(late.status).toBe(413);
    const since = (await denials()).slice(before);
    expect(since.filter((a) => a.data?.code === 'body_too_large')).toHaveLength(PER_MINUTE + 1);
    expect(since.at(-1)?.actor).toMatchObject({ kind: 'user', id: vendor.me.id });
    expect(since.reduce((n, a) => n + Number(a.data?.suppressed ?? 0), 0)).toBe(burst - PER_MINUTE);
    expect(await auditText()).not.toContain(MARKER);
    expect((await vendor.browser.fetch('/api/me')).status).toBe(200);
  });
});
