// verifyTotp against a real Store + AuditLog with codes made by oathtool: drift, replay, concurrency, lockout.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { performStepUp, requireFreshStepUp } from '../../gateway/auth/step-up.js';
import { confirmTotp, enrolTotp, TOTP_LOCK_MINUTES, verifyTotp } from '../../gateway/auth/totp.js';
import type { User } from '../../gateway/core/model.js';
import {
  addSession,
  addUser,
  auditRecords,
  auditText,
  enrolAndConfirm,
  oathCode,
  openFixture,
  T0,
  type TotpFixture,
} from './totp-fixture.js';

let fx: TotpFixture;
let user: User;
let secret: string;
const now = () => fx.clock.now();
const verify = (code: string, at = now()) => verifyTotp(fx.deps, user.id, code, at, 'step-up');
const stored = () => fx.deps.store.data.users.find((u) => u.id === user.id)!.totp!;

beforeEach(async () => {
  fx = await openFixture();
  user = await addUser(fx.deps.store);
  secret = await enrolAndConfirm(fx, user);
});
afterEach(async () => {
  await fx.close();
});

describe('accepting codes', () => {
  it('accepts an oathtool code for the current time and records its time step', async () => {
    const r = await verify(await oathCode(secret, now()));
    expect(r).toEqual({ ok: true, step: Math.floor(T0 / 30_000) });
    expect(stored().lastStep).toBe(Math.floor(T0 / 30_000));
  });

  it('allows one step of drift either side, not two', async () => {
    const base = now();
    expect((await verify(await oathCode(secret, base - 60_000))).ok).toBe(false);
    expect((await verify(await oathCode(secret, base + 60_000))).ok).toBe(false);
    expect(await verify(await oathCode(secret, base - 30_000))).toMatchObject({ ok: true });
    expect(await verify(await oathCode(secret, base))).toMatchObject({ ok: true });
    expect(await verify(await oathCode(secret, base + 30_000))).toMatchObject({ ok: true });
  });

  it('refuses anything but six digits as invalid, without throwing', async () => {
    const bad = ['', '12345', '1234567', 'abcdef', ' 123456', '12 456', '１２３４５６', '0x1e240'];
    for (const [i, code] of bad.entries()) {
      // Each counts as a failure: a right code every four attempts keeps the lock away.
      if (i % 4 === 3) {
        fx.clock.advance(30_000);
        expect((await verify(await oathCode(secret, now()))).ok).toBe(true);
      }
      expect(await verify(code)).toMatchObject({ ok: false, code: 'totp_invalid' });
    }
  });
});

describe('replay', () => {
  it('accepts the same code once; the second submit is totp_replayed', async () => {
    const code = await oathCode(secret, now());
    expect((await verify(code)).ok).toBe(true);
    expect(await verify(code)).toEqual({ ok: false, code: 'totp_replayed' });
    // Still replayed a step later, while the code is inside the drift window.
    fx.clock.advance(30_000);
    expect(await verify(code)).toEqual({ ok: false, code: 'totp_replayed' });
  });

  it('accepts the same code submitted 10 times concurrently exactly once', async () => {
    const code = await oathCode(secret, now());
    const results = await Promise.all(Array.from({ length: 10 }, () => verify(code)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.code === 'totp_replayed')).toHaveLength(9);
    // Replays do not feed the lockout: a double-clicked submit must not lock the user out.
    expect(stored().failures).toBe(0);
  });

  it('refuses an older step once a newer one was accepted (t-30 s after t)', async () => {
    expect((await verify(await oathCode(secret, now()))).ok).toBe(true);
    expect(await verify(await oathCode(secret, now() - 30_000))).toEqual({
      ok: false,
      code: 'totp_replayed',
    });
    // A future step accepted first also closes the current one.
    fx.clock.advance(60_000);
    expect((await verify(await oathCode(secret, now() + 30_000))).ok).toBe(true);
    expect(await verify(await oathCode(secret, now()))).toEqual({ ok: false, code: 'totp_replayed' });
  });
});

describe('lockout', () => {
  const wrong = async () => {
    const right = await oathCode(secret, now());
    return right === '000000' ? '000001' : '000000';
  };

  it('locks after 5 wrong codes: the right code is refused, then accepted after 15 minutes', async () => {
    // Each wrong code says how many tries are left before the lock.
    for (let i = 1; i <= 4; i++)
      expect(await verify(await wrong())).toEqual({ ok: false, code: 'totp_invalid', triesLeft: 5 - i });
    const fifth = await verify(await wrong());
    const until = new Date(now() + TOTP_LOCK_MINUTES * 60_000).toISOString();
    expect(fifth).toEqual({ ok: false, code: 'totp_locked', lockedUntil: until });
    expect(await verify(await oathCode(secret, now()))).toEqual({
      ok: false,
      code: 'totp_locked',
      lockedUntil: until,
    });

    fx.clock.advance(TOTP_LOCK_MINUTES * 60_000 - 1000);
    expect((await verify(await oathCode(secret, now()))).ok).toBe(false);
    fx.clock.advance(1000);
    expect((await verify(await oathCode(secret, now()))).ok).toBe(true);
    expect(stored().failures).toBe(0);
    expect(stored().lockedUntil).toBeUndefined();
  });

  it('a success resets the count of consecutive failures', async () => {
    for (let i = 0; i < 4; i++) await verify(await wrong());
    expect((await verify(await oathCode(secret, now()))).ok).toBe(true);
    fx.clock.advance(30_000);
    for (let i = 0; i < 4; i++) expect((await verify(await wrong())).ok).toBe(false);
    expect((await verify(await oathCode(secret, now()))).ok).toBe(true);
  });

  it('the lock is on the user: a new login (another web session) and SSH are locked too', async () => {
    const first = await addSession(fx.deps.store, user.id);
    const ctx1 = { user, session: first };
    for (let i = 0; i < 5; i++)
      await expect(performStepUp(fx.deps, ctx1, await wrong(), now(), 15)).rejects.toMatchObject({
        code: expect.stringMatching(/^totp_/),
      });
    const second = await addSession(fx.deps.store, user.id);
    const right = await oathCode(secret, now());
    await expect(performStepUp(fx.deps, { user, session: second }, right, now(), 15)).rejects.toMatchObject({
      kind: 'rate_limited',
      code: 'totp_locked',
    });
    expect(await verifyTotp(fx.deps, user.id, right, now(), 'ssh')).toMatchObject({ code: 'totp_locked' });
    expect(fx.deps.store.data.webSessions.find((s) => s.id === second.id)?.stepUpAt).toBeUndefined();
  });
});

describe('step-up', () => {
  it('stamps only this web session and satisfies the guard until maxAgeMinutes', async () => {
    const a = await addSession(fx.deps.store, user.id);
    const b = await addSession(fx.deps.store, user.id);
    const r = await performStepUp(fx.deps, { user, session: a }, await oathCode(secret, now()), now(), 15);
    expect(r).toEqual({ stepUpUntil: new Date(now() + 15 * 60_000).toISOString() });
    const sessions = fx.deps.store.data.webSessions;
    const fresh = sessions.find((s) => s.id === a.id)!;
    expect(fresh.stepUpAt).toBe(new Date(now()).toISOString());
    expect(sessions.find((s) => s.id === b.id)!.stepUpAt).toBeUndefined();
    const u = fx.deps.store.data.users.find((x) => x.id === user.id)!;
    expect(() => requireFreshStepUp({ user: u, session: fresh }, now() + 15 * 60_000, 15)).not.toThrow();
    expect(() => requireFreshStepUp({ user: u, session: fresh }, now() + 15 * 60_000 + 1, 15)).toThrow(
      expect.objectContaining({ code: 'stepup_required' }),
    );
  });
});

describe('enrolment and storage', () => {
  it('keeps the secret encrypted at rest, bound to its user', async () => {
    const db = await readFile(join(fx.dir, 'db.json'), 'utf8');
    expect(db).not.toContain(secret);
    expect(stored().secretEnc).toMatch(/^[A-Za-z0-9+/=]+$/);
    // Moving the sealed secret to another user's record makes it unusable there.
    const other = await addUser(fx.deps.store);
    await fx.deps.store.update((d) => {
      d.users.find((u) => u.id === other.id)!.totp = { ...stored(), lastStep: undefined };
    });
    await expect(verifyTotp(fx.deps, other.id, await oathCode(secret, now()), now(), 'ssh')).rejects.toMatchObject({
      code: 'totp_secret_unreadable',
    });
  });

  it('an unconfirmed enrolment opens nothing but confirmation, and can be restarted', async () => {
    const u = await addUser(fx.deps.store);
    const first = await enrolTotp(fx.deps, u.id, now());
    expect(first.otpauthUri).toMatch(/^otpauth:\/\/totp\/Gatehouse%20\(Test%20plant\):user\d+%40vendor\.example\?/);
    expect(first.qrSvg).toMatch(/^<svg /);
    expect(await verifyTotp(fx.deps, u.id, await oathCode(first.secret, now()), now(), 'step-up')).toEqual({
      ok: false,
      code: 'totp_not_enrolled',
    });
    const second = await enrolTotp(fx.deps, u.id, now());
    expect(second.secret).not.toBe(first.secret);
    expect((await confirmTotp(fx.deps, u.id, await oathCode(first.secret, now()), now())).ok).toBe(false);
    expect((await confirmTotp(fx.deps, u.id, await oathCode(second.secret, now()), now())).ok).toBe(true);
    await expect(enrolTotp(fx.deps, u.id, now())).rejects.toMatchObject({ code: 'totp_already_enrolled' });
  });
});

describe('audit', () => {
  it('records every failure and lock, and never a code or a secret', async () => {
    const codes: string[] = [];
    const good = await oathCode(secret, now());
    codes.push(good);
    await verify(good);
    await verify(good); // replayed
    for (let i = 0; i < 5; i++) {
      const bad = String(100000 + i * 7919);
      codes.push(bad);
      await verify(bad);
    }
    await verify(await oathCode(secret, now() + 30_000)); // locked
    const records = (await auditRecords(fx.dir)).filter((r) => r.subject?.userId === user.id);
    const failed = records.filter((r) => r.type === 'totp.failed').map((r) => r.data?.reason);
    expect(failed).toEqual(['replayed', 'invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'locked']);
    expect(records.filter((r) => r.type === 'totp.locked')).toHaveLength(1);
    expect(records.map((r) => r.type)).toEqual(expect.arrayContaining(['totp.enrolled', 'totp.confirmed']));
    const text = await auditText(fx.dir);
    expect(text).not.toContain(secret);
    for (const c of codes) expect(text).not.toContain(c);
  });
});
