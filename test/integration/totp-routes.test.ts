// The TOTP routes in a tiny express app; a stand-in for the web-session middleware sets req.auth from the store.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatLocal } from '../../gateway/core/windows-tz.js';
import { auditRefusals } from '../../gateway/http/audit-refusal.js';
import { apiNotFound, errorHandler } from '../../gateway/http/errors.js';
import { type TotpRouterOptions, totpRouter } from '../../gateway/http/routes/totp.js';
import { silentLogger } from '../../gateway/log.js';
import {
  addSession,
  addUser,
  auditRecords,
  enrolAndConfirm,
  oathCode,
  openFixture,
  type TotpFixture,
} from './totp-fixture.js';

let fx: TotpFixture;
let server: Server;
let base: string;

/** What the real middleware does, minus cookies: the session id (here a header) names the caller. */
const fakeSession: RequestHandler = (req, _res, next) => {
  const id = req.get('x-test-session');
  const session = fx.deps.store.data.webSessions.find((s) => s.id === id);
  const user = session && fx.deps.store.data.users.find((u) => u.id === session.userId);
  if (session && user) req.auth = { user, session };
  next();
};

async function start(opts: TotpRouterOptions = {}) {
  const app = express();
  app.use(express.json());
  app.use(fakeSession);
  app.use('/api', totpRouter(fx.deps, opts));
  app.use('/api', apiNotFound);
  // The gateway's central refusal hook: every 401/403 becomes one access.denied record.
  app.use(
    errorHandler(silentLogger, auditRefusals({ audit: fx.deps.audit, clock: fx.deps.clock, logger: silentLogger })),
  );
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(path: string, sessionId: string | undefined, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(sessionId ? { 'x-test-session': sessionId } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text), headers: res.headers };
}

beforeEach(async () => {
  fx = await openFixture();
});
afterEach(async () => {
  await new Promise((r) => server?.close(r));
  await fx.close();
});

describe('enrolment over HTTP', () => {
  it('enrols from the shown secret, confirms, then refuses to enrol again without ever showing it', async () => {
    await start();
    const user = await addUser(fx.deps.store);
    const s = await addSession(fx.deps.store, user.id);
    const enrol = await post('/api/me/totp/enroll', s.id);
    expect(enrol.status).toBe(200);
    expect(enrol.headers.get('cache-control')).toBe('no-store');
    const { otpauthUri, qrSvg, secret } = enrol.json as { otpauthUri: string; qrSvg: string; secret: string };
    expect(otpauthUri).toContain(`secret=${secret}`);
    expect(qrSvg).toMatch(/^<svg [^>]*viewBox/);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);

    expect((await post('/api/me/totp/confirm', s.id, { code: '000000' })).json.error.code).toBe('totp_invalid');
    const confirm = await post('/api/me/totp/confirm', s.id, {
      code: await oathCode(secret, fx.clock.now()),
    });
    expect(confirm.status).toBe(200);
    expect(confirm.json).toEqual({ totpEnrolled: true });

    const again = await post('/api/me/totp/enroll', s.id);
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('totp_already_enrolled');
    expect(again.text).not.toContain(secret);
    fx.clock.advance(30_000);
    const step = await post('/api/me/step-up', s.id, { code: await oathCode(secret, fx.clock.now()) });
    expect(step.status).toBe(200);
    expect(step.text).not.toContain(secret);
    expect((await post('/api/me/totp/confirm', s.id, { code: '123456' })).status).toBe(409);
  });

  it('needs a signed-in caller and a code given as a string', async () => {
    await start();
    expect((await post('/api/me/totp/enroll', undefined)).json.error.code).toBe('login_required');
    expect((await post('/api/me/step-up', 'nope', { code: '123456' })).status).toBe(401);
    const user = await addUser(fx.deps.store);
    const s = await addSession(fx.deps.store, user.id);
    expect((await post('/api/me/step-up', s.id, {})).json.error.code).toBe('code_required');
    expect((await post('/api/me/step-up', s.id, { code: 123456 })).status).toBe(400);
    const notEnrolled = await post('/api/me/step-up', s.id, { code: '123456' });
    expect([notEnrolled.status, notEnrolled.json.error.code]).toEqual([409, 'totp_not_enrolled']);
  });
});

describe('step-up over HTTP', () => {
  it('returns stepUpUntil, refuses a replay (400) and a locked user (429 with the unlock time)', async () => {
    await start();
    const user = await addUser(fx.deps.store);
    const secret = await enrolAndConfirm(fx, user);
    const s = await addSession(fx.deps.store, user.id);
    const code = await oathCode(secret, fx.clock.now());
    const ok = await post('/api/me/step-up', s.id, { code });
    expect(ok.json).toEqual({ stepUpUntil: new Date(fx.clock.now() + 15 * 60_000).toISOString() });
    const replay = await post('/api/me/step-up', s.id, { code });
    expect([replay.status, replay.json.error.code]).toEqual([400, 'totp_replayed']);
    for (let i = 0; i < 5; i++) await post('/api/me/step-up', s.id, { code: 'nope!!' });
    const locked = await post('/api/me/step-up', s.id, {
      code: await oathCode(secret, fx.clock.now() + 30_000),
    });
    expect([locked.status, locked.json.error.code]).toEqual([429, 'totp_locked']);
    // Site time (the test site is Europe/Berlin), and what to do about it.
    expect(locked.json.error.message).toContain(formatLocal(fx.clock.now() + 15 * 60_000, 'Europe/Berlin'));
    expect(locked.json.error.message).toContain('ask an administrator to reset your authenticator');
    const types = (await auditRecords(fx.dir)).map((r) => r.type);
    expect(types.filter((t) => t === 'stepup.failed')).toHaveLength(7);
    expect(types.filter((t) => t === 'stepup.succeeded')).toHaveLength(1);
  });

  it('applies the optional limiter to the code routes', async () => {
    let calls = 0;
    await start({
      limiter: (_req, res, next) => {
        calls++;
        if (calls > 2) res.status(429).json({ error: { code: 'rate_limited', message: 'slow down' } });
        else next();
      },
    });
    const user = await addUser(fx.deps.store);
    const s = await addSession(fx.deps.store, user.id);
    await post('/api/me/step-up', s.id, { code: '111111' });
    await post('/api/me/totp/confirm', s.id, { code: '111111' });
    expect((await post('/api/me/step-up', s.id, { code: '111111' })).status).toBe(429);
    expect(calls).toBe(3);
  });
});

describe('admin reset', () => {
  it('403 for a non-admin, 403 stepup_required without step-up, then resets and the user enrols again', async () => {
    await start();
    const vendor = await addUser(fx.deps.store, ['vendor', 'supervisor']);
    const vendorSecret = await enrolAndConfirm(fx, vendor);
    const vs = await addSession(fx.deps.store, vendor.id);
    await post('/api/me/step-up', vs.id, { code: await oathCode(vendorSecret, fx.clock.now()) });
    const admin = await addUser(fx.deps.store, ['admin']);
    const adminSecret = await enrolAndConfirm(fx, admin);
    const as = await addSession(fx.deps.store, admin.id);
    const path = `/api/users/${vendor.id}/totp/reset`;

    const byVendor = await post(path, vs.id);
    expect([byVendor.status, byVendor.json.error.code]).toEqual([403, 'forbidden']);
    const noStepUp = await post(path, as.id);
    expect([noStepUp.status, noStepUp.json.error.code]).toEqual([403, 'stepup_required']);
    expect(fx.deps.store.data.users.find((u) => u.id === vendor.id)?.totp?.confirmed).toBe(true);

    await post('/api/me/step-up', as.id, { code: await oathCode(adminSecret, fx.clock.now()) });
    const reset = await post(path, as.id);
    expect(reset.status).toBe(200);
    expect(reset.json).toMatchObject({ userId: vendor.id, reset: true, wasConfirmed: true });
    expect(fx.deps.store.data.users.find((u) => u.id === vendor.id)?.totp).toBeUndefined();
    // The vendor's standing step-up was made with the old authenticator: it is gone too.
    expect(fx.deps.store.data.webSessions.find((x) => x.id === vs.id)?.stepUpAt).toBeUndefined();
    expect((await post('/api/me/step-up', vs.id, { code: '123456' })).json.error.code).toBe('totp_not_enrolled');
    expect((await post('/api/me/totp/enroll', vs.id)).status).toBe(200);
    expect((await post('/api/users/usr_nobody/totp/reset', as.id)).status).toBe(404);

    const records = await auditRecords(fx.dir);
    const denied = records.filter((r) => r.type === 'access.denied').map((r) => r.data?.code);
    // The reset aimed at no one is audited too, with the admin and the id tried.
    expect(denied).toEqual(['forbidden', 'stepup_required', 'user_not_found']);
    expect(records.find((r) => r.data?.code === 'user_not_found')).toMatchObject({
      actor: { id: admin.id },
      subject: { userId: 'usr_nobody' },
      data: { action: 'totp.reset' },
    });
    const reset1 = records.filter((r) => r.type === 'totp.reset');
    expect(reset1).toHaveLength(1);
    expect(reset1[0]).toMatchObject({
      actor: { kind: 'user', id: admin.id },
      subject: { userId: vendor.id },
    });
  });
});
