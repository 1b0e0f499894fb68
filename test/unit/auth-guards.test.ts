// Small guards: the rate limiter, constant-time token compare, Origin rule, cookie parsing, login transactions.
import { describe, expect, it, vi } from 'vitest';
import { LoginTransactions } from '../../gateway/auth/login-flow.js';
import { readCookies, sessionRef } from '../../gateway/auth/web-session.js';
import { ManualClock } from '../../gateway/clock.js';
import { type ErrorCode, GatehouseError } from '../../gateway/errors.js';
import { auditRefusals, isRefusal } from '../../gateway/http/audit-refusal.js';
import { isAllowedOrigin, RateLimiter, tokensEqual } from '../../gateway/http/security.js';
import { silentLogger } from '../../gateway/log.js';

describe('RateLimiter', () => {
  it('allows `limit` hits per window and key, then says when to come back', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ limit: 2, windowMs: 60_000, clock });
    expect(rl.hit('a').ok).toBe(true);
    expect(rl.hit('a').ok).toBe(true);
    clock.advance(20_000);
    expect(rl.hit('a')).toEqual({ ok: false, retryAfterSeconds: 40 });
    expect(rl.hit('b').ok).toBe(true);
    clock.advance(40_000);
    expect(rl.hit('a').ok).toBe(true);
  });

  it('forgets the stalest keys when full', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter({ limit: 1, windowMs: 60_000, clock, maxKeys: 2 });
    rl.hit('a');
    rl.hit('b');
    rl.hit('c'); // evicts a
    expect(rl.hit('a').ok).toBe(true);
    expect(rl.hit('c').ok).toBe(false);
  });
});

describe('tokens, origins, cookies', () => {
  it('compares tokens exactly', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abd')).toBe(false);
    expect(tokensEqual('abc', 'abcd')).toBe(false);
  });

  it('allows no Origin or exactly the public origin', () => {
    const o = 'https://gatehouse.plant3.example';
    expect(isAllowedOrigin(undefined, o)).toBe(true);
    expect(isAllowedOrigin(o, o)).toBe(true);
    expect(isAllowedOrigin('https://gatehouse.plant3.example.evil', o)).toBe(false);
    expect(isAllowedOrigin('http://gatehouse.plant3.example', o)).toBe(false);
    expect(isAllowedOrigin('null', o)).toBe(false);
  });

  it('reads every value of a cookie', () => {
    expect(readCookies('a=1; gh_session=x; b=2', 'gh_session')).toEqual(['x']);
    expect(readCookies('gh_session=x; gh_session=y', 'gh_session')).toEqual(['x', 'y']);
    expect(readCookies('xgh_session=1', 'gh_session')).toEqual([]);
    expect(readCookies(undefined, 'gh_session')).toEqual([]);
  });

  it('names a session in the audit log by a digest, never the id', () => {
    expect(sessionRef('secret-id')).toMatch(/^[0-9a-f]{16}$/);
    expect(sessionRef('secret-id')).not.toContain('secret');
  });
});

describe('LoginTransactions', () => {
  const tx = { state: 's', nonce: 'n', codeVerifier: 'v', returnTo: '/' };

  it('hands a transaction out once', () => {
    const t = new LoginTransactions({ clock: new ManualClock() });
    const id = t.create(tx);
    expect(t.take(id)).toMatchObject(tx);
    expect(t.take(id)).toBeUndefined();
    expect(t.take(undefined)).toBeUndefined();
  });

  it('expires after 10 minutes', () => {
    const clock = new ManualClock();
    const t = new LoginTransactions({ clock });
    const id = t.create(tx);
    clock.advance(10 * 60_000 + 1);
    expect(t.take(id)).toBeUndefined();
  });

  it('stays bounded, dropping the oldest', () => {
    const t = new LoginTransactions({ clock: new ManualClock(), maxSize: 3 });
    const ids = [1, 2, 3, 4].map(() => t.create(tx));
    expect(t.size).toBe(3);
    expect(t.take(ids[0])).toBeUndefined();
    expect(t.take(ids[3])).toBeDefined();
  });
});

describe('auditRefusals', () => {
  const req = {
    socket: { remoteAddress: '10.0.0.9' },
    method: 'GET',
    originalUrl: '/api/x?code=secret',
    path: '/api/x',
  } as never;

  it('audits 401/403 without the query string, caps per IP and reports what it skipped', async () => {
    const append = vi.fn(async () => ({}));
    const clock = new ManualClock();
    const hook = auditRefusals({ audit: { append } as never, clock, logger: silentLogger, perMinute: 2 });
    const e = new GatehouseError('denied', 'forbidden', 'no');
    await hook(new GatehouseError('not_found', 'not_found', 'no'), req);
    expect(append).not.toHaveBeenCalled();
    for (let i = 0; i < 5; i++) await hook(e, req);
    expect(append).toHaveBeenCalledTimes(2);
    expect(append.mock.calls[0]).toEqual([
      {
        type: 'access.denied',
        actor: { kind: 'anonymous', ip: '10.0.0.9' },
        data: { code: 'forbidden', status: 403, method: 'GET', path: '/api/x', ip: '10.0.0.9' },
      },
    ]);
    clock.advance(60_000);
    await hook(e, req);
    expect(append).toHaveBeenLastCalledWith(
      expect.objectContaining({ data: expect.objectContaining({ suppressed: 3 }) }),
    );
    await hook.flush();
  });

  it("audits a frame a websocket refused with the caller's detail, which never stands in for its own fields", async () => {
    const append = vi.fn(async () => ({}));
    const hook = auditRefusals({
      audit: { append } as never,
      clock: new ManualClock(),
      logger: silentLogger,
      perMinute: 2,
    });
    const tooLarge = new GatehouseError('too_large', 'message_too_large', 'too large');
    // Other 400s are answered to the client, not audited here (as before).
    await hook(new GatehouseError('invalid_input', 'invalid_json', 'bad'), req);
    expect(append).not.toHaveBeenCalled();
    await hook(tooLarge, req, { wsCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', maxPayload: 1024, code: 'x', path: '/y' });
    expect(append).toHaveBeenCalledWith({
      type: 'access.denied',
      actor: { kind: 'anonymous', ip: '10.0.0.9' },
      data: {
        wsCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
        maxPayload: 1024,
        code: 'message_too_large',
        status: 413,
        method: 'GET',
        path: '/api/x',
        ip: '10.0.0.9',
      },
    });
    // One budget per IP with the other refusals: a flood of bad frames is counted past it like any other.
    await hook(new GatehouseError('denied', 'forbidden', 'no'), req);
    await hook(new GatehouseError('invalid_input', 'invalid_frame', 'bad frame'), req);
    expect(append).toHaveBeenCalledTimes(2);
    await hook.flush();
    expect(append).toHaveBeenLastCalledWith(
      expect.objectContaining({ data: { code: 'refusals_suppressed', ip: '10.0.0.9', suppressed: 1 } }),
    );
  });

  it('a body over the bound is a refusal; other 413s, 400s and 404s are not', () => {
    const refused = (kind: ConstructorParameters<typeof GatehouseError>[0], code: ErrorCode) =>
      isRefusal(new GatehouseError(kind, code, 'x'));
    expect(refused('too_large', 'body_too_large')).toBe(true);
    expect(refused('too_large', 'message_too_large')).toBe(true);
    expect(refused('unauthenticated', 'login_required')).toBe(true);
    expect(refused('denied', 'csrf_failed')).toBe(true);
    // The code decides, not the status: a 413 of another code, a malformed or invalid body, an unknown route.
    expect(refused('too_large', 'bad_request')).toBe(false);
    expect(refused('invalid_input', 'invalid_json')).toBe(false);
    expect(refused('invalid_input', 'invalid_body')).toBe(false);
    expect(refused('invalid_input', 'bad_request')).toBe(false);
    expect(refused('not_found', 'not_found')).toBe(false);
  });

  it('audits a body over the bound with the bound, naming the user a session cookie names before req.auth is set', async () => {
    const append = vi.fn(async () => ({}));
    const user = { id: 'u-1', name: 'Vera Vendor', email: 'vera@example.test' };
    const signedIn = vi.fn(() => ({ user, session: {} }) as never);
    const hook = auditRefusals({
      audit: { append } as never,
      clock: new ManualClock(),
      logger: silentLogger,
      signedIn,
    });
    const post = { ...(req as object), method: 'POST' } as never;
    await hook(new GatehouseError('too_large', 'body_too_large', 'too large'), post, { maxBodyBytes: 65536 });
    expect(append).toHaveBeenCalledWith({
      type: 'access.denied',
      actor: { kind: 'user', id: 'u-1', name: 'Vera Vendor', email: 'vera@example.test', ip: '10.0.0.9' },
      data: {
        maxBodyBytes: 65536,
        code: 'body_too_large',
        status: 413,
        method: 'POST',
        path: '/api/x',
        ip: '10.0.0.9',
      },
    });
    // What the session middleware set wins; nothing answered is looked up at all.
    const other = { ...user, id: 'u-2' };
    await hook(new GatehouseError('denied', 'forbidden', 'no'), { ...(req as object), auth: { user: other } } as never);
    expect(append).toHaveBeenLastCalledWith(expect.objectContaining({ actor: expect.objectContaining({ id: 'u-2' }) }));
    signedIn.mockClear();
    await hook(new GatehouseError('invalid_input', 'invalid_json', 'bad'), post);
    expect(signedIn).not.toHaveBeenCalled();
    // No session: anonymous with the address.
    signedIn.mockReturnValue(undefined as never);
    await hook(new GatehouseError('too_large', 'body_too_large', 'too large'), post, { maxBodyBytes: 65536 });
    expect(append).toHaveBeenLastCalledWith(expect.objectContaining({ actor: { kind: 'anonymous', ip: '10.0.0.9' } }));
    await hook.flush();
  });

  it('a flood that stops still shows its size: the count no later refusal carried is audited at flush', async () => {
    const append = vi.fn(async () => ({}));
    const hook = auditRefusals({
      audit: { append } as never,
      clock: new ManualClock(),
      logger: silentLogger,
      perMinute: 1,
    });
    const e = new GatehouseError('denied', 'forbidden', 'no');
    for (let i = 0; i < 4; i++) await hook(e, req);
    expect(append).toHaveBeenCalledTimes(1);
    await hook.flush();
    expect(append).toHaveBeenCalledTimes(2);
    expect(append).toHaveBeenLastCalledWith({
      type: 'access.denied',
      actor: { kind: 'anonymous', ip: '10.0.0.9' },
      data: { code: 'refusals_suppressed', ip: '10.0.0.9', suppressed: 3 },
    });
    // Nothing counted twice: a second flush has nothing left.
    await hook.flush();
    expect(append).toHaveBeenCalledTimes(2);
  });
});
