// Policy decisions: who requests, approves, connects and sees — with reasons that keep states apart.
import { describe, expect, it } from 'vitest';
import type { ActorFacts, TargetRules } from '../../gateway/core/access.js';
import type { AccessRequest } from '../../gateway/core/model.js';
import {
  type AccessDecision,
  canApprove,
  canConnect,
  canRequest,
  pickRequestForConnect,
  visibleTo,
} from '../../gateway/core/policy.js';
import {
  admin,
  auditor,
  dual,
  foreignSup,
  MIN,
  MON_0800,
  otherVendor,
  requestFixture,
  sup1,
  supervisorOnly,
  TZ,
  target,
  vendor,
  vendorInGroup,
} from './fixtures-access.js';

const DURING = MON_0800 + 30 * MIN;
const END = MON_0800 + 120 * MIN;
const code = (d: AccessDecision) => (d.allow ? 'allow' : d.code);
const reason = (d: AccessDecision) => (d.allow ? '' : d.reason);
const approved = (over: Partial<AccessRequest> = {}) =>
  requestFixture({ state: 'approved', grantId: 'grt_1', ...over });

describe('canRequest / canApprove', () => {
  it('lets vendors request (whatever else they are) and nobody else', () => {
    expect(code(canRequest(vendor, target))).toBe('allow');
    expect(code(canRequest(dual, target))).toBe('allow');
    for (const who of [supervisorOnly, auditor, admin]) expect(code(canRequest(who, target))).toBe('role_required');
  });

  it('lets supervisors and admins in an approver group approve requests of others', () => {
    const r = requestFixture();
    expect(code(canApprove(sup1, target, r))).toBe('allow');
    expect(code(canApprove({ ...admin, groups: ['ot-supervisors'] }, target, r))).toBe('allow');
    for (const who of [foreignSup, vendorInGroup, admin, auditor])
      expect(code(canApprove(who, target, r))).toBe('not_approver');
    expect(code(canApprove(dual, target, requestFixture({ userId: dual.userId })))).toBe('self_approval');
    expect(code(canApprove(dual, target, r))).toBe('allow');
    expect(code(canApprove(sup1, target, requestFixture({ targetId: 'eng-ws-02' })))).toBe('wrong_target');
  });
});

describe('canConnect', () => {
  const connect = (
    r: AccessRequest | undefined,
    now = DURING,
    who: ActorFacts = vendor,
    protocol: 'ssh' | 'rdp' = 'ssh',
  ) => canConnect(who, r, target, protocol, now, TZ);

  it('allows inside an approved window', () => {
    expect(connect(approved())).toEqual({ allow: true });
    expect(code(connect(approved(), MON_0800))).toBe('allow');
  });

  it('says why not, one state at a time', () => {
    const cases: Array<[AccessRequest | undefined, number, string, string]> = [
      [undefined, DURING, 'no_grant', 'no approved access to eng-ws-01 (Engineering workstation 01)'],
      [requestFixture(), DURING, 'grant_pending', 'is awaiting approval (0 of 1)'],
      [
        requestFixture({
          state: 'denied',
          decisions: [{ by: sup1.userId, at: '2026-03-30T05:10:00.000Z', verdict: 'deny', reason: 'batch running' }],
        }),
        DURING,
        'grant_denied',
        'has been denied: batch running',
      ],
      [requestFixture({ state: 'cancelled' }), DURING, 'no_grant', 'was cancelled'],
      [
        requestFixture({ state: 'expired' }),
        END,
        'grant_expired',
        'expired undecided at 2026-03-30 10:00 Europe/Berlin',
      ],
      [approved(), MON_0800 - MIN, 'window_not_started', 'starts at 2026-03-30 08:00 Europe/Berlin'],
      // Not yet swept: still `pending` in the store, but its window passed.
      [
        requestFixture(),
        END + MIN,
        'grant_expired',
        'your request req_1 for eng-ws-01 (Engineering workstation 01) expired',
      ],
      [approved(), END, 'grant_expired', 'ended at 2026-03-30 10:00 Europe/Berlin'],
      [
        approved({ state: 'revoked', closedReason: 'PLC download seen' }),
        DURING,
        'grant_revoked',
        'has been revoked: PLC download seen',
      ],
    ];
    const reasons = new Set<string>();
    for (const [r, now, c, text] of cases) {
      const d = connect(r, now);
      expect(code(d), c).toBe(c);
      expect(reason(d)).toContain(text);
      reasons.add(reason(d));
    }
    expect(reasons.size).toBe(cases.length - 1); // the swept and the unswept expiry read the same
    expect(reason(connect(requestFixture()))).not.toContain('denied');
  });

  it('refuses the wrong protocol, a protocol the target lacks, and someone else’s grant', () => {
    const both: TargetRules = { ...target, rdp: {} };
    expect(code(canConnect(vendor, approved(), both, 'rdp', DURING, TZ))).toBe('wrong_protocol');
    expect(reason(canConnect(vendor, approved(), both, 'rdp', DURING, TZ))).toContain('is for SSH, not RDP');
    expect(code(connect(approved(), DURING, vendor, 'rdp'))).toBe('protocol_not_available');
    expect(code(connect(approved(), DURING, otherVendor))).toBe('no_grant');
    expect(code(connect(approved({ targetId: 'eng-ws-02' })))).toBe('no_grant');
  });

  it('refuses a grant holder who lost the vendor role', () => {
    expect(code(connect(approved(), DURING, { ...vendor, roles: [] }))).toBe('role_required');
  });

  it('formats times in UTC when no zone is given', () => {
    expect(reason(canConnect(vendor, approved(), target, 'ssh', END))).toContain('ended at 2026-03-30 08:00 UTC');
  });
});

describe('pickRequestForConnect', () => {
  const at = (h: number) => new Date(MON_0800 + h * 60 * MIN).toISOString();
  const r = (id: string, over: Partial<AccessRequest>) => requestFixture({ id, ...over });
  const oldDenied = r('req_old', { state: 'denied', createdAt: at(-48) });
  const newestPending = r('req_new', { state: 'pending', createdAt: at(0), startsAt: at(4), endsAt: at(5) });
  const active = approved({ id: 'req_act', createdAt: at(-24) });
  const activeLonger = approved({ id: 'req_act2', createdAt: at(-30), endsAt: at(3) });
  const upcomingLate = approved({ id: 'req_up2', startsAt: at(6), endsAt: at(7) });
  const upcomingSoon = approved({ id: 'req_up1', startsAt: at(3), endsAt: at(4) });
  const activeRdp = approved({ id: 'req_rdp', protocol: 'rdp' });
  const foreign = approved({ id: 'req_x', userId: otherVendor.userId });
  const elsewhere = approved({ id: 'req_y', targetId: 'eng-ws-02' });
  const pick = (list: AccessRequest[], protocol: 'ssh' | 'rdp' = 'ssh') =>
    pickRequestForConnect(list, vendor.userId, target.id, protocol, DURING)?.id;

  it('prefers an active grant (the one ending last), then the next upcoming one', () => {
    expect(pick([oldDenied, newestPending, upcomingSoon, active, activeLonger, foreign, elsewhere])).toBe('req_act2');
    expect(pick([oldDenied, newestPending, upcomingLate, upcomingSoon, activeRdp])).toBe('req_up1');
  });

  it('falls back to a grant for the other protocol, then the most recent request', () => {
    expect(pick([oldDenied, newestPending, activeRdp])).toBe('req_rdp');
    expect(pick([oldDenied, newestPending])).toBe('req_new');
    expect(pick([oldDenied])).toBe('req_old');
    expect(pick([foreign, elsewhere])).toBeUndefined();
    expect(pick([])).toBeUndefined();
  });

  it('feeds canConnect so the refusal names the most useful state', () => {
    const both: TargetRules = { ...target, rdp: {} };
    const chosen = pickRequestForConnect([oldDenied, activeRdp], vendor.userId, target.id, 'ssh', DURING);
    expect(code(canConnect(vendor, chosen, both, 'ssh', DURING, TZ))).toBe('wrong_protocol');
  });
});

describe('visibleTo', () => {
  const targets = new Map<string, TargetRules>([[target.id, target]]);
  const mine = requestFixture();
  const gone = requestFixture({ targetId: 'removed-target' });

  it('shows vendors their own requests only', () => {
    expect(visibleTo(vendor, mine, targets)).toBe(true);
    expect(visibleTo(otherVendor, mine, targets)).toBe(false);
    expect(visibleTo(vendorInGroup, mine, targets)).toBe(false);
  });

  it('shows supervisors the requests for targets they approve, plus their own', () => {
    expect(visibleTo(sup1, mine, targets)).toBe(true);
    expect(visibleTo(foreignSup, mine, targets)).toBe(false);
    expect(visibleTo(foreignSup, requestFixture({ userId: foreignSup.userId }), targets)).toBe(true);
    expect(visibleTo(sup1, gone, targets)).toBe(false);
  });

  it('shows auditors and admins everything', () => {
    for (const who of [auditor, admin]) {
      expect(visibleTo(who, mine, targets)).toBe(true);
      expect(visibleTo(who, gone, targets)).toBe(true);
    }
  });
});
