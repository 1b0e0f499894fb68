// The request state machine: every transition, every refusal, and racing decisions applied in both orders.
import { describe, expect, it } from 'vitest';
import type { ActorFacts, Transition } from '../../gateway/core/access.js';
import type { AccessRequest } from '../../gateway/core/model.js';
import {
  approve,
  cancel,
  createRequest,
  deny,
  endGrant,
  expire,
  grantStatus,
  revoke,
} from '../../gateway/core/requests.js';
import {
  admin,
  auditor,
  counterIds,
  deepFreeze,
  dual,
  foreignSup,
  MIN,
  MON_0800,
  otherVendor,
  requestFixture,
  sup1,
  sup2,
  sup3,
  TZ,
  target,
  vendor,
  vendorInGroup,
} from './fixtures-access.js';

// The fixture request runs 06:00Z–08:00Z (08:00–10:00 CEST); MON_0800 is its start.
const BEFORE = MON_0800 - 60 * MIN;
const DURING = MON_0800 + 30 * MIN;
const END = MON_0800 + 120 * MIN;
const ids = () => counterIds();

/** Unwraps a successful transition (frozen, as the store would keep it) or fails with its message. */
function next(r: Transition): AccessRequest {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return deepFreeze(r.next);
}
const refusal = (r: Transition) => (r.ok ? { ok: true } : { code: r.code, kind: r.kind });

const pending = (over: Partial<AccessRequest> = {}) => requestFixture(over);
const approved = (over: Partial<AccessRequest> = {}) =>
  requestFixture({
    state: 'approved',
    grantId: 'grt_1',
    decisions: [{ by: sup1.userId, at: '2026-03-30T05:10:00.000Z', verdict: 'approve' }],
    ...over,
  });

describe('approve', () => {
  it('turns a pending request into a grant with one approval', () => {
    const r = approve(pending(), sup1, target, BEFORE, ids());
    const n = next(r);
    expect(n).toMatchObject({
      state: 'approved',
      grantId: 'grt_1',
      decisions: [{ by: 'usr_sup1', verdict: 'approve' }],
    });
    expect(n.updatedAt).toBe('2026-03-30T05:00:00.000Z');
    expect(r.ok && r.events.map((e) => e.type)).toEqual(['request.approved']);
    expect(r.ok && r.events[0]!.subject).toEqual({
      requestId: 'req_1',
      targetId: 'eng-ws-01',
      userId: 'usr_vendor',
      grantId: 'grt_1',
    });
  });

  it('counts distinct approvers toward approvalsRequired (four-eyes)', () => {
    const first = approve(pending({ approvalsRequired: 2 }), sup1, target, BEFORE, ids());
    const half = next(first);
    expect(half.state).toBe('pending');
    expect(half.grantId).toBeUndefined();
    expect(first.ok && first.events).toEqual([
      expect.objectContaining({
        type: 'request.approval_recorded',
        data: { by: 'usr_sup1', approvals: 1, required: 2 },
      }),
    ]);
    const second = approve(half, sup2, target, BEFORE + MIN, ids());
    expect(next(second)).toMatchObject({ state: 'approved', grantId: 'grt_1' });
    expect(second.ok && second.events[0]!.data).toMatchObject({ approvers: ['usr_sup1', 'usr_sup2'] });
  });

  it('keeps an optional comment on the decision and in the event; blank is none, past 500 characters is refused', () => {
    const r = approve(pending(), sup1, target, BEFORE, ids(), '  checked with the line lead  ');
    expect(next(r).decisions).toEqual([
      { by: 'usr_sup1', at: '2026-03-30T05:00:00.000Z', verdict: 'approve', reason: 'checked with the line lead' },
    ]);
    expect(r.ok && r.events[0]!.data.comment).toBe('checked with the line lead');
    const half = approve(pending({ approvalsRequired: 2 }), sup1, target, BEFORE, ids(), 'first look fine');
    expect(half.ok && half.events[0]!.data.comment).toBe('first look fine');
    const blank = approve(pending(), sup1, target, BEFORE, ids(), '   ');
    expect(next(blank).decisions[0]).not.toHaveProperty('reason');
    expect(blank.ok && blank.events[0]!.data).not.toHaveProperty('comment');
    expect(refusal(approve(pending(), sup1, target, BEFORE, ids(), 'x'.repeat(501)))).toEqual({
      code: 'invalid_comment',
      kind: 'invalid_input',
    });
  });

  it('keeps an emergency pending at 1 of 2 approvals', () => {
    const created = next(
      createRequest(
        {
          protocol: 'ssh',
          durationMinutes: 60,
          purpose: 'Line 2 stopped, PLC fault',
          emergency: true,
          emergencyReason: 'Line 2 stopped at 03:10',
        },
        target,
        vendor,
        MON_0800 - 4 * 60 * MIN, // 04:00 CEST: outside the window
        ids(),
        TZ,
      ),
    );
    expect(created.approvalsRequired).toBe(2);
    const one = next(approve(created, sup1, target, MON_0800 - 4 * 60 * MIN + MIN, ids()));
    expect(one.state).toBe('pending');
    expect(next(approve(one, sup2, target, MON_0800 - 4 * 60 * MIN + 2 * MIN, ids())).state).toBe('approved');
  });

  it('refuses self-approval, also by a requester who is a supervisor in the approver group', () => {
    const own = pending({ userId: dual.userId });
    expect(refusal(approve(own, dual, target, BEFORE, ids()))).toEqual({
      code: 'self_approval',
      kind: 'denied',
    });
    expect(refusal(deny(own, dual, target, 'no', BEFORE))).toEqual({ code: 'self_approval', kind: 'denied' });
  });

  it('refuses approvers without the group or without the role', () => {
    for (const who of [foreignSup, vendorInGroup, auditor, admin, otherVendor])
      expect(refusal(approve(pending(), who, target, BEFORE, ids()))).toEqual({
        code: 'not_approver',
        kind: 'denied',
      });
    const adminInGroup: ActorFacts = { ...admin, groups: ['ot-supervisors'] };
    expect(next(approve(pending(), adminInGroup, target, BEFORE, ids())).state).toBe('approved');
  });

  it('counts the same approver once: a second approval is refused and changes nothing', () => {
    const half = next(approve(pending({ approvalsRequired: 2 }), sup1, target, BEFORE, ids()));
    expect(refusal(approve(half, sup1, target, BEFORE + MIN, ids()))).toEqual({
      code: 'already_decided',
      kind: 'conflict',
    });
    expect(refusal(deny(half, sup1, target, 'changed my mind', BEFORE + MIN))).toEqual({
      code: 'already_decided',
      kind: 'conflict',
    });
    expect(half.state).toBe('pending');
    const done = next(approve(pending(), sup1, target, BEFORE, ids()));
    expect(refusal(approve(done, sup1, target, BEFORE, ids()))).toEqual({
      code: 'already_decided',
      kind: 'conflict',
    });
    expect(refusal(approve(done, sup2, target, BEFORE, ids()))).toEqual({
      code: 'not_pending',
      kind: 'conflict',
    });
  });

  it('refuses after the window ended, before or after the expiry sweep', () => {
    expect(refusal(approve(pending(), sup1, target, END, ids()))).toEqual({
      code: 'request_expired',
      kind: 'conflict',
    });
    const expired = next(expire(pending(), END));
    expect(refusal(approve(expired, sup1, target, END + MIN, ids()))).toEqual({
      code: 'request_expired',
      kind: 'conflict',
    });
    // Inside the window it may still be approved; the grant is then active at once.
    expect(grantStatus(next(approve(pending(), sup1, target, DURING, ids())), DURING)).toBe('active');
  });

  it('refuses a request for another target', () => {
    expect(refusal(approve(pending({ targetId: 'other' }), sup1, target, BEFORE, ids()))).toEqual({
      code: 'wrong_target',
      kind: 'denied',
    });
  });
});

describe('deny', () => {
  it('needs a reason', () => {
    for (const reason of ['', '   ', 'x'.repeat(501)])
      expect(refusal(deny(pending(), sup1, target, reason, BEFORE))).toEqual({
        code: 'reason_required',
        kind: 'invalid_input',
      });
  });

  it('denies with the reason recorded; one denial is final even after an approval', () => {
    const r = deny(pending(), sup1, target, '  Line runs a batch today ', BEFORE);
    expect(next(r)).toMatchObject({
      state: 'denied',
      closedReason: 'Line runs a batch today',
      decisions: [{ by: 'usr_sup1', verdict: 'deny', reason: 'Line runs a batch today' }],
    });
    expect(r.ok && r.events).toEqual([
      expect.objectContaining({
        type: 'request.denied',
        data: { by: 'usr_sup1', reason: 'Line runs a batch today' },
      }),
    ]);
    const half = next(approve(pending({ approvalsRequired: 2 }), sup1, target, BEFORE, ids()));
    expect(next(deny(half, sup2, target, 'not today', BEFORE)).state).toBe('denied');
    expect(refusal(deny(pending(), foreignSup, target, 'no', BEFORE))).toEqual({
      code: 'not_approver',
      kind: 'denied',
    });
    expect(refusal(deny(pending(), sup1, target, 'late', END))).toEqual({
      code: 'request_expired',
      kind: 'conflict',
    });
  });
});

describe('cancel', () => {
  it('lets only the requester cancel', () => {
    for (const who of [otherVendor, sup1, admin])
      expect(refusal(cancel(pending(), who.userId, BEFORE))).toEqual({
        code: 'not_requester',
        kind: 'denied',
      });
  });

  it('cancels a pending request, and an approved grant before its window starts', () => {
    const r = cancel(pending(), vendor.userId, BEFORE);
    expect(next(r)).toMatchObject({ state: 'cancelled' });
    expect(r.ok && r.events[0]).toMatchObject({
      type: 'request.cancelled',
      data: { by: 'usr_vendor', wasApproved: false },
    });
    const g = cancel(approved(), vendor.userId, BEFORE);
    expect(next(g).state).toBe('cancelled');
    expect(g.ok && g.events[0]).toMatchObject({ subject: { grantId: 'grt_1' }, data: { wasApproved: true } });
  });

  it('refuses once the grant started or ended, after expiry, and on closed requests', () => {
    expect(refusal(cancel(approved(), vendor.userId, DURING))).toEqual({
      code: 'grant_started',
      kind: 'conflict',
    });
    expect(refusal(cancel(approved(), vendor.userId, END))).toEqual({
      code: 'grant_ended',
      kind: 'conflict',
    });
    expect(refusal(cancel(pending(), vendor.userId, END))).toEqual({
      code: 'request_expired',
      kind: 'conflict',
    });
    for (const state of ['denied', 'cancelled', 'expired', 'revoked'] as const)
      expect(refusal(cancel(pending({ state }), vendor.userId, BEFORE))).toEqual({
        code: 'not_pending',
        kind: 'conflict',
      });
  });
});

describe('revoke', () => {
  it('revokes an active or upcoming grant with a reason', () => {
    const r = revoke(approved(), sup2, target, 'Unexpected PLC download', DURING);
    expect(next(r)).toMatchObject({
      state: 'revoked',
      closedReason: 'Unexpected PLC download',
      grantId: 'grt_1',
    });
    expect(r.ok && r.events[0]).toMatchObject({
      type: 'grant.revoked',
      data: { by: 'usr_sup2', wasActive: true },
    });
    expect(grantStatus(next(r), DURING)).toBe('revoked');
    expect(next(revoke(approved(), sup1, target, 'plans changed', BEFORE)).state).toBe('revoked');
  });

  it('refuses vendors, other groups, no reason, non-grants and ended grants', () => {
    expect(refusal(revoke(approved(), vendor, target, 'mine', DURING))).toEqual({
      code: 'not_approver',
      kind: 'denied',
    });
    expect(refusal(revoke(approved(), vendorInGroup, target, 'x', DURING))).toEqual({
      code: 'not_approver',
      kind: 'denied',
    });
    expect(refusal(revoke(approved(), foreignSup, target, 'x', DURING))).toEqual({
      code: 'not_approver',
      kind: 'denied',
    });
    expect(refusal(revoke(approved(), sup1, target, ' ', DURING))).toEqual({
      code: 'reason_required',
      kind: 'invalid_input',
    });
    expect(refusal(revoke(pending(), sup1, target, 'x', DURING))).toEqual({
      code: 'not_approved',
      kind: 'conflict',
    });
    expect(refusal(revoke(approved({ state: 'revoked' }), sup1, target, 'x', DURING))).toEqual({
      code: 'not_approved',
      kind: 'conflict',
    });
    expect(refusal(revoke(approved(), sup1, target, 'too late', END))).toEqual({
      code: 'grant_ended',
      kind: 'conflict',
    });
  });
});

describe('expire, endGrant and grantStatus', () => {
  it('expires a pending request only once its window has ended', () => {
    expect(refusal(expire(pending(), END - 1))).toEqual({ code: 'window_not_ended', kind: 'conflict' });
    const r = expire(pending(), END);
    expect(next(r)).toMatchObject({ state: 'expired', closedReason: 'window ended undecided' });
    expect(r.ok && r.events[0]!.type).toBe('request.expired');
    expect(refusal(expire(approved(), END))).toEqual({ code: 'not_pending', kind: 'conflict' });
  });

  it('ends a grant once: state stays approved, grantStatus says ended', () => {
    expect(refusal(endGrant(approved(), END - 1))).toEqual({ code: 'grant_not_ended', kind: 'conflict' });
    const r = endGrant(approved(), END);
    const ended = next(r);
    expect(ended).toMatchObject({ state: 'approved', closedReason: 'window_ended' });
    expect(r.ok && r.events[0]).toMatchObject({
      type: 'grant.ended',
      data: { endedAt: '2026-03-30T08:00:00.000Z' },
    });
    expect(refusal(endGrant(ended, END + MIN))).toEqual({ code: 'already_ended', kind: 'conflict' });
    expect(refusal(endGrant(pending(), END))).toEqual({ code: 'not_approved', kind: 'conflict' });
  });

  it('derives the grant status from state and time (half-open window)', () => {
    expect(grantStatus(pending(), DURING)).toBe('none');
    expect(grantStatus(approved(), BEFORE)).toBe('not_started');
    expect(grantStatus(approved(), MON_0800)).toBe('active');
    expect(grantStatus(approved(), END - 1)).toBe('active');
    expect(grantStatus(approved(), END)).toBe('ended');
    expect(grantStatus(approved({ state: 'revoked' }), DURING)).toBe('revoked');
    for (const state of ['denied', 'cancelled', 'expired'] as const)
      expect(grantStatus(pending({ state }), DURING)).toBe('none');
  });
});

describe('races: decisions applied one after another in the store’s serialised update', () => {
  type Op = (r: AccessRequest) => Transition;
  /** What the broker does: each op sees the result of the one before; refused ops change nothing. */
  function serialise(start: AccessRequest, ops: Op[]) {
    let cur = start;
    const events: string[] = [];
    const refused: string[] = [];
    for (const op of ops) {
      const r = op(cur);
      if (r.ok) {
        cur = next(r);
        events.push(...r.events.map((e) => e.type));
      } else refused.push(r.code);
    }
    return { final: cur, events, refused };
  }
  const final = new Set(['request.approved', 'request.denied', 'request.cancelled', 'request.expired']);
  const approveBy =
    (who: ActorFacts): Op =>
    (r) =>
      approve(r, who, target, BEFORE, ids());
  const denyBy =
    (who: ActorFacts): Op =>
    (r) =>
      deny(r, who, target, 'not today', BEFORE);

  it('approve racing deny ends in exactly one final state, in either order', () => {
    const a = serialise(pending(), [approveBy(sup1), denyBy(sup2)]);
    const b = serialise(pending(), [denyBy(sup2), approveBy(sup1)]);
    expect([a.final.state, b.final.state]).toEqual(['approved', 'denied']);
    for (const run of [a, b]) {
      expect(run.events.filter((e) => final.has(e))).toHaveLength(1);
      expect(run.refused).toEqual(['not_pending']);
    }
  });

  it('two approvers racing for the last of two approvals produce one grant, in either order', () => {
    const start = next(approve(pending({ approvalsRequired: 2 }), sup1, target, BEFORE, ids()));
    for (const order of [
      [approveBy(sup2), approveBy(sup3)],
      [approveBy(sup3), approveBy(sup2)],
    ]) {
      const run = serialise(start, order);
      expect(run.final.state).toBe('approved');
      expect(run.events).toEqual(['request.approved']);
      expect(run.refused).toEqual(['not_pending']);
    }
  });

  it('cancel racing approve ends in one final state, in either order', () => {
    const cancelOp: Op = (r) => cancel(r, vendor.userId, BEFORE);
    const a = serialise(pending(), [approveBy(sup1), cancelOp]); // approved-not-started may still be cancelled
    const b = serialise(pending(), [cancelOp, approveBy(sup1)]);
    expect(a.final.state).toBe('cancelled');
    expect(b.final.state).toBe('cancelled');
    expect(b.refused).toEqual(['not_pending']);
    expect(b.events.filter((e) => final.has(e))).toHaveLength(1);
  });
});
