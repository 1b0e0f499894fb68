// The step-up guard and stepUpUntil: pure functions of the session, the user and `now`.
import { describe, expect, it } from 'vitest';
import type { AuthContext } from '../../gateway/auth/context.js';
import { requireFreshStepUp, stepUpUntil } from '../../gateway/auth/step-up.js';

const NOW = Date.parse('2026-11-23T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function ctx(stepUpAt: string | undefined, confirmed = true): AuthContext {
  return {
    user: {
      id: 'usr_1',
      issuer: 'http://idp',
      subject: 's',
      name: 'V',
      email: 'v@x.example',
      org: 'x',
      groups: [],
      roles: ['vendor'],
      createdAt: iso(NOW),
      totp: { secretEnc: 'x', confirmed, failures: 0, enrolledAt: iso(NOW) },
    },
    session: {
      id: 'ws_1',
      userId: 'usr_1',
      createdAt: iso(NOW),
      lastSeenAt: iso(NOW),
      expiresAt: iso(NOW + 3600_000),
      csrfToken: 't',
      ...(stepUpAt ? { stepUpAt } : {}),
    },
  };
}

const refused = expect.objectContaining({ kind: 'denied', code: 'stepup_required', status: 403 });

describe('requireFreshStepUp', () => {
  it('passes a step-up younger than maxAgeMinutes, up to and including the limit', () => {
    expect(() => requireFreshStepUp(ctx(iso(NOW)), NOW, 15)).not.toThrow();
    expect(() => requireFreshStepUp(ctx(iso(NOW - 15 * 60_000)), NOW, 15)).not.toThrow();
  });

  it('refuses an older step-up, none at all, one from the future, or one made before a TOTP reset', () => {
    expect(() => requireFreshStepUp(ctx(iso(NOW - 15 * 60_000 - 1)), NOW, 15)).toThrow(refused);
    expect(() => requireFreshStepUp(ctx(undefined), NOW, 15)).toThrow(refused);
    expect(() => requireFreshStepUp(ctx('not a date'), NOW, 15)).toThrow(refused);
    expect(() => requireFreshStepUp(ctx(iso(NOW + 60_000)), NOW, 15)).toThrow(refused);
    expect(() => requireFreshStepUp(ctx(iso(NOW), false), NOW, 15)).toThrow(refused);
    const c = ctx(iso(NOW));
    delete c.user.totp;
    expect(() => requireFreshStepUp(c, NOW, 15)).toThrow(refused);
  });

  it('uses the configured age', () => {
    expect(() => requireFreshStepUp(ctx(iso(NOW - 20 * 60_000)), NOW, 30)).not.toThrow();
    expect(() => requireFreshStepUp(ctx(iso(NOW - 20 * 60_000)), NOW, 15)).toThrow(refused);
  });
});

describe('stepUpUntil', () => {
  it('is stepUpAt + maxAgeMinutes, or null without a step-up', () => {
    expect(stepUpUntil({ stepUpAt: iso(NOW) }, 15)).toBe('2026-11-23T10:15:00.000Z');
    expect(stepUpUntil({}, 15)).toBeNull();
    expect(stepUpUntil({ stepUpAt: 'garbage' }, 15)).toBeNull();
  });
});
