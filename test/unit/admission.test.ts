// admitConnect's decisions: a proof for a vendor's own started grant, one refusal line for everything else; and a
// proof that cannot be forged past the target-dialling functions.
import { describe, expect, it } from 'vitest';
import { admitConnect, type ConnectAsk, type ConnectProof, requireProof } from '../../gateway/admission/connect.js';
import type { AccessRequest, Protocol, User } from '../../gateway/core/model.js';
import type { Deps } from '../../gateway/deps.js';
import { MIN, MON_0800, otherVendor, requestFixture, target, TZ, vendor } from './fixtures-access.js';

const DURING = MON_0800 + 30 * MIN;
const user = (id: string): User => ({
  id,
  issuer: 'https://idp.test',
  subject: id,
  name: id,
  email: `${id}@example.test`,
  org: 'Vendor',
  groups: ['vendors'],
  roles: ['vendor'],
  createdAt: '2026-03-01T00:00:00.000Z',
});
const me = user(vendor.userId);
const someoneElse = user(otherVendor.userId);
const desktop = { ...target, id: 'hmi-01', name: 'HMI 01', ssh: undefined, rdp: { host: '10.2.0.20' } };

function depsWith(requests: AccessRequest[]): Pick<Deps, 'store' | 'config'> {
  return {
    store: { data: { users: [me, someoneElse], requests } },
    config: { targets: [target, desktop], site: { timezone: TZ } },
  } as unknown as Pick<Deps, 'store' | 'config'>;
}

const grant = (over: Partial<AccessRequest> = {}) => requestFixture({ state: 'approved', grantId: 'grt_1', ...over });

function refusal(requests: AccessRequest[], ask: ConnectAsk, protocol: Protocol = 'ssh', now = DURING, who = me) {
  const a = admitConnect(depsWith(requests), { user: who }, ask, protocol, now);
  return a.ok ? { code: 'admitted', reason: '' } : a.refusal;
}

describe('admitConnect', () => {
  it('admits a vendor to their own started grant, by target id and by grant id, with the user as stored now', () => {
    for (const ask of [{ targetId: target.id }, { grantId: 'grt_1' }]) {
      const a = admitConnect(depsWith([grant()]), { user: { ...me, roles: [] } }, ask, 'ssh', DURING);
      expect(a.ok).toBe(true);
      if (!a.ok) continue;
      expect(a.proof.user).toBe(me);
      expect(a.proof.request.grantId).toBe('grt_1');
      expect(a.proof.target.id).toBe(target.id);
      expect(Object.isFrozen(a.proof)).toBe(true);
    }
  });

  it('refuses without a grant, naming the target only when it is a plausible id', () => {
    expect(refusal([], { targetId: target.id })).toMatchObject({
      code: 'no_grant',
      reason: `no approved access to ${target.id}`,
      subject: { userId: me.id, targetId: target.id },
    });
    expect(refusal([], { targetId: 'no-such-target' })).toMatchObject({
      code: 'no_grant',
      reason: 'no approved access to no-such-target',
    });
    expect(refusal([], { targetId: 'Evil\nTarget' })).toEqual({
      code: 'no_grant',
      reason: 'no approved access to that target',
      subject: { userId: me.id },
    });
    expect(refusal([requestFixture()], { grantId: 'grt_1' })).toMatchObject({
      code: 'no_grant',
      reason: 'no approved access under this grant',
    });
    // A cancelled grant reads as none by target id (the line does not tell its state).
    expect(refusal([grant({ state: 'cancelled' })], { targetId: target.id })).toMatchObject({
      code: 'no_grant',
      reason: `no approved access to ${target.id}`,
    });
  });

  it('refuses a grant whose window has not started, with its start in the site zone', () => {
    const early = MON_0800 - 30 * MIN;
    for (const ask of [{ targetId: target.id }, { grantId: 'grt_1' }])
      expect(refusal([grant()], ask, 'ssh', early)).toMatchObject({
        code: 'window_not_started',
        reason: expect.stringContaining('starts at 2026-03-30 08:00'),
      });
  });

  it('refuses an expired grant and a revoked one', () => {
    const after = MON_0800 + 121 * MIN;
    expect(refusal([grant()], { grantId: 'grt_1' }, 'ssh', after)).toMatchObject({
      code: 'grant_expired',
      reason: expect.stringContaining('ended at'),
    });
    expect(refusal([grant({ state: 'revoked', closedReason: 'job done' })], { targetId: target.id })).toMatchObject({
      code: 'grant_revoked',
      reason: expect.stringContaining('revoked: job done'),
    });
    expect(refusal([grant({ state: 'revoked' })], { grantId: 'grt_1' })).toMatchObject({ code: 'grant_revoked' });
  });

  it('refuses the wrong protocol, and a target that does not offer it', () => {
    const both = { ...target, rdp: { host: '10.2.0.15' } };
    const deps = { ...depsWith([grant()]), config: { targets: [both], site: { timezone: TZ } } } as unknown as Pick<
      Deps,
      'store' | 'config'
    >;
    const a = admitConnect(deps, { user: me }, { grantId: 'grt_1' }, 'rdp', DURING);
    expect(a.ok ? 'admitted' : a.refusal.code).toBe('wrong_protocol');
    expect(refusal([grant()], { grantId: 'grt_1' }, 'rdp')).toMatchObject({
      code: 'no_grant',
      reason: 'no approved remote desktop access under this grant',
    });
    expect(refusal([grant({ targetId: desktop.id, protocol: 'rdp' })], { grantId: 'grt_1' }, 'ssh')).toMatchObject({
      code: 'no_grant',
      reason: 'no approved access under this grant',
    });
    expect(refusal([grant({ targetId: desktop.id, protocol: 'rdp' })], { grantId: 'grt_1' }, 'rdp').code).toBe(
      'admitted',
    );
  });

  it("refuses another user's grant exactly like one that does not exist", () => {
    const theirs = grant({ userId: someoneElse.id });
    expect(refusal([theirs], { grantId: 'grt_1' })).toEqual(refusal([], { grantId: 'grt_1' }));
    expect(refusal([theirs], { targetId: target.id })).toEqual(refusal([], { targetId: target.id }));
    expect(refusal([grant()], { grantId: 'grt_1' }, 'ssh', DURING, someoneElse).code).toBe('no_grant');
  });
});

describe('requireProof', () => {
  it('passes a minted proof and stops a copy, a look-alike and the wrong protocol', () => {
    const a = admitConnect(depsWith([grant()]), { user: me }, { grantId: 'grt_1' }, 'ssh', DURING);
    if (!a.ok) throw new Error('expected an admission');
    expect(() => requireProof(a.proof, 'ssh')).not.toThrow();
    const copy = { ...a.proof } as unknown as ConnectProof<'ssh'>;
    expect(() => requireProof(copy, 'ssh')).toThrow(/needs a connect admission/);
    const lookAlike = Object.create(Object.getPrototypeOf(a.proof) as object) as ConnectProof<'ssh'>;
    expect(() => requireProof(lookAlike, 'ssh')).toThrow(/needs a connect admission/);
    expect(() => requireProof(a.proof as unknown as ConnectProof<'rdp'>, 'rdp')).toThrow(/needs a connect admission/);
  });
});
