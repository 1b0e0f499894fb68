// Every transition and refusal of the access workflow through the HTTP API, with its audit trail.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LiveSession } from '../../gateway/sessions.js';
import { body, type Fixture, MIN, openFixture, T0 } from './requests-fixture.js';

let fx: Fixture;
beforeEach(async () => {
  fx = await openFixture();
});
afterEach(async () => {
  await fx.close();
});

const create = async (over: Record<string, unknown> = {}, who: 'vendor' | 'vendor2' | 'dual' = 'vendor') => {
  const r = await fx.api(who, 'POST', '/api/requests', body(over));
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; approvalsRequired: number; state: string };
};
const types = async () => (await fx.auditRecords()).map((r) => r.type);
const denials = async () =>
  (await fx.auditRecords()).filter((r) => r.type === 'access.denied').map((r) => r.data?.code);

describe('transitions', () => {
  it('creates a pending request; the supervisor sees the full context and approves it into a grant', async () => {
    // An earlier session of this vendor on this target: part of the approver's context.
    await fx.store.update((d) => {
      d.sessions.push({
        id: 'ses_old',
        grantId: 'grt_old',
        requestId: 'req_old',
        userId: fx.users.vendor.id,
        targetId: 'eng-ws-01',
        protocol: 'ssh',
        via: 'ssh',
        startedAt: '2026-11-02T09:00:00.000Z',
        endedAt: '2026-11-02T10:00:00.000Z',
        endReason: 'client_closed',
      });
    });
    const created = await create({ ticket: 'CHG-1234' });
    expect(created).toMatchObject({ state: 'pending', approvalsRequired: 1 });
    expect(created.id).toMatch(/^req_[0-9a-f]{24}$/);

    const queue = await fx.api('sup', 'GET', '/api/requests?state=pending');
    expect(queue.status).toBe(200);
    expect(queue.json.requests).toHaveLength(1);
    expect(queue.json.requests[0]).toMatchObject({
      id: created.id,
      requester: { id: 'usr_vendor', name: 'Alice', org: 'Acme', email: 'vendor@acme.example' },
      target: { id: 'eng-ws-01', name: 'Engineering workstation 01', zone: 'Cell 2', securityLevel: 3 },
      startsAt: '2026-11-23T10:00:00.000Z',
      endsAt: '2026-11-23T12:00:00.000Z',
      windowLocal: '2026-11-23 11:00–13:00 Europe/Berlin',
      purpose: 'Update the S7 project for line 2',
      ticket: 'CHG-1234',
      emergency: false,
      emergencyReason: null,
      decisions: [],
      can: { approve: true, deny: true, cancel: false, revoke: false },
      earlierSessions: { count: 1, recent: [{ id: 'ses_old', endReason: 'client_closed' }] },
    });

    const ok = await fx.api('sup', 'POST', `/api/requests/${created.id}/approve`);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ state: 'approved', grantStatus: 'active', approvals: 1 });
    expect(ok.json.grantId).toMatch(/^grt_/);
    expect(ok.json.decisions).toEqual([
      {
        by: { id: 'usr_sup', name: 'Bob', org: 'Plant 3' },
        at: new Date(T0).toISOString(),
        verdict: 'approve',
        reason: null,
      },
    ]);
    const own = await fx.api('vendor', 'GET', `/api/requests/${created.id}`);
    expect(own.json).toMatchObject({ state: 'approved', can: { cancel: false } });
    expect(own.json.earlierSessions).toBeUndefined(); // approver context is not for the vendor's own view
    expect(await types()).toEqual(expect.arrayContaining(['request.created', 'request.approved']));
    const approved = (await fx.auditRecords()).find((r) => r.type === 'request.approved')!;
    expect(approved.actor).toMatchObject({ kind: 'user', id: 'usr_sup' });
    expect(approved.subject).toMatchObject({ requestId: created.id, grantId: ok.json.grantId });
  });

  it('denies with a reason (and refuses a denial without one)', async () => {
    const { id } = await create();
    expect((await fx.api('sup', 'POST', `/api/requests/${id}/deny`, {})).json.error.code).toBe('reason_required');
    const blank = await fx.api('sup', 'POST', `/api/requests/${id}/deny`, { reason: '   ' });
    expect([blank.status, blank.json.error.code]).toEqual([400, 'reason_required']);
    const r = await fx.api('sup', 'POST', `/api/requests/${id}/deny`, { reason: 'line 2 runs a batch today' });
    expect(r.json).toMatchObject({ state: 'denied', closedReason: 'line 2 runs a batch today' });
    const again = await fx.api('sup2', 'POST', `/api/requests/${id}/approve`);
    expect([again.status, again.json.error.code]).toEqual([409, 'not_pending']);
    expect(await types()).toContain('request.denied');
  });

  it('lets the vendor cancel a pending request and an unstarted grant, but not a running one', async () => {
    const a = await create();
    expect((await fx.api('sup', 'POST', `/api/requests/${a.id}/cancel`)).json.error.code).toBe('not_requester');
    expect((await fx.api('vendor', 'POST', `/api/requests/${a.id}/cancel`)).json.state).toBe('cancelled');

    const later = await create({ startsAt: '2026-11-23T13:00:00Z' });
    await fx.api('sup', 'POST', `/api/requests/${later.id}/approve`);
    const c = await fx.api('vendor', 'POST', `/api/requests/${later.id}/cancel`);
    expect(c.json).toMatchObject({ state: 'cancelled', grantStatus: 'none' });

    const now = await create();
    await fx.api('sup', 'POST', `/api/requests/${now.id}/approve`);
    const running = await fx.api('vendor', 'POST', `/api/requests/${now.id}/cancel`);
    expect([running.status, running.json.error.code]).toEqual([409, 'grant_started']);
    expect((await types()).filter((t) => t === 'request.cancelled')).toHaveLength(2);
  });

  it('revokes a grant and closes its live session within a second', async () => {
    const { id } = await create();
    const grantId = (await fx.api('sup', 'POST', `/api/requests/${id}/approve`)).json.grantId as string;
    const closed: Array<{ reason: string; message: string; at: number }> = [];
    const session: LiveSession = {
      id: 'ses_live',
      grantId,
      userId: fx.users.vendor.id,
      targetId: 'eng-ws-01',
      protocol: 'ssh',
      startedAt: new Date(T0).toISOString(),
      close: async (reason, message) => {
        closed.push({ reason, message, at: performance.now() });
      },
    };
    fx.sessions.register(session);
    const started = performance.now();
    const r = await fx.api('sup', 'POST', `/api/requests/${id}/revoke`, { reason: 'vendor laptop reported lost' });
    expect(r.json).toMatchObject({ state: 'revoked', grantStatus: 'revoked', sessionsClosed: 1 });
    expect(closed).toHaveLength(1);
    expect(closed[0]!.reason).toBe('revoked');
    expect(closed[0]!.message).toContain('vendor laptop reported lost');
    expect(closed[0]!.at - started).toBeLessThan(1000);
    expect(fx.sessions.list()).toEqual([]);
    // A connection that checked the grant just before the revoke cannot register afterwards.
    expect(() => fx.sessions.register({ ...session, id: 'ses_late' })).toThrow(/withdrawn/);
    const again = await fx.api('sup', 'POST', `/api/requests/${id}/revoke`, { reason: 'twice' });
    expect([again.status, again.json.error.code]).toEqual([409, 'not_approved']);
    expect(await types()).toContain('grant.revoked');
  });
});

describe('refusals', () => {
  it('never lets a requester approve their own request, even through a supervisor role', async () => {
    const { id } = await create({}, 'dual');
    const r = await fx.api('dual', 'POST', `/api/requests/${id}/approve`);
    expect([r.status, r.json.error.code]).toEqual([403, 'self_approval']);
    expect((await fx.api('dual', 'GET', `/api/requests/${id}`)).json.can.approve).toBe(false);
    expect(await denials()).toEqual(['self_approval']); // audited once, by the central hook
  });

  it('refuses approvers outside the target group: hidden from one, 403 for an admin who sees all', async () => {
    const { id } = await create();
    const other = await fx.api('supOther', 'POST', `/api/requests/${id}/approve`);
    expect([other.status, other.json.error.code]).toEqual([404, 'not_found']);
    const admin = await fx.api('admin', 'POST', `/api/requests/${id}/approve`);
    expect([admin.status, admin.json.error.code]).toEqual([403, 'not_approver']);
    const recs = (await fx.auditRecords()).filter((r) => r.type === 'access.denied');
    expect(recs.map((r) => [r.actor.id, r.data?.code])).toEqual([
      ['usr_supOther', 'not_found'],
      ['usr_admin', 'not_approver'],
    ]);
    expect(recs[0]!.data).toMatchObject({ status: 404, exists: true, action: 'request.approve' });
  });

  it('needs a fresh step-up to request, approve, deny and revoke (403 stepup_required), not to cancel', async () => {
    const { id } = await create();
    fx.clock.advance(16 * MIN);
    for (const [who, path, b] of [
      ['vendor', '/api/requests', body()],
      ['sup', `/api/requests/${id}/approve`, undefined],
      ['sup', `/api/requests/${id}/deny`, { reason: 'no' }],
      ['sup', `/api/requests/${id}/revoke`, { reason: 'no' }],
    ] as const) {
      const r = await fx.api(who, 'POST', path, b);
      expect([path, r.status, r.json.error.code]).toEqual([path, 403, 'stepup_required']);
    }
    expect((await fx.api('vendor', 'POST', `/api/requests/${id}/cancel`)).status).toBe(200);
    expect(await denials()).toEqual(Array(4).fill('stepup_required'));
    // A step-up stamped in the future (clock set back) does not count either.
    await fx.stepUp('sup', fx.clock.now() + 5 * MIN);
    await fx.stepUp('vendor');
    const b = await create();
    expect((await fx.api('sup', 'POST', `/api/requests/${b.id}/approve`)).status).toBe(403);
  });

  it('refuses a request outside every maintenance window unless it is an emergency with a reason', async () => {
    const evening = { startsAt: '2026-11-23T18:00:00Z' }; // 19:00 in Berlin
    const r = await fx.api('vendor', 'POST', '/api/requests', body(evening));
    expect([r.status, r.json.error.code]).toEqual([400, 'outside_window']);
    expect(r.json.error.message).toContain('2026-11-24 06:00 Europe/Berlin');
    const noReason = await fx.api('vendor', 'POST', '/api/requests', body({ ...evening, emergency: true }));
    expect(noReason.json.error.code).toBe('emergency_reason_required');
    expect(await denials()).toEqual(['outside_window', 'emergency_reason_required']);
    const e = await create({ ...evening, emergency: true, emergencyReason: 'line stopped, PLC fault F0041' });
    expect(e).toMatchObject({ approvalsRequired: 2, emergency: true });
  });

  it('an emergency needs two distinct approvers: one keeps it pending, the same one twice counts once', async () => {
    const { id } = await create({
      startsAt: '2026-11-23T18:00:00Z',
      emergency: true,
      emergencyReason: 'line stopped, PLC fault F0041',
    });
    const first = await fx.api('sup', 'POST', `/api/requests/${id}/approve`);
    expect(first.json).toMatchObject({ state: 'pending', approvals: 1, approvalsRequired: 2, grantId: null });
    const dup = await fx.api('sup', 'POST', `/api/requests/${id}/approve`);
    expect([dup.status, dup.json.error.code]).toEqual([409, 'already_decided']);
    const second = await fx.api('sup2', 'POST', `/api/requests/${id}/approve`);
    expect(second.json).toMatchObject({ state: 'approved', approvals: 2 });
    expect(await types()).toEqual(expect.arrayContaining(['request.approval_recorded', 'request.approved']));
    expect(await denials()).toEqual(['already_decided']);
  });

  it('refuses to approve a request whose window has passed', async () => {
    const { id } = await create({ durationMinutes: 60 });
    fx.clock.advance(61 * MIN);
    await fx.stepUp('sup');
    const r = await fx.api('sup', 'POST', `/api/requests/${id}/approve`);
    expect([r.status, r.json.error.code]).toEqual([409, 'request_expired']);
    expect((await fx.api('vendor', 'GET', `/api/requests/${id}`)).json.state).toBe('pending'); // until the sweep
    expect(await denials()).toEqual(['request_expired']);
  });

  it('bounds the open requests one vendor may have', async () => {
    await fx.close();
    fx = await openFixture({ broker: { maxPendingPerUser: 2 } });
    await create();
    await create();
    const r = await fx.api('vendor', 'POST', '/api/requests', body());
    expect([r.status, r.json.error.code]).toEqual([409, 'too_many_pending']);
    expect(await denials()).toEqual(['too_many_pending']);
  });

  it('validates bodies strictly with snake_case codes', async () => {
    const cases: Array<[unknown, string]> = [
      [{ ...body(), admin: true }, 'unknown_field'],
      [body({ purpose: 'x'.repeat(2001) }), 'invalid_purpose'],
      [body({ purpose: 'too short' }), 'invalid_purpose'],
      [body({ durationMinutes: '60' }), 'invalid_duration'],
      [body({ durationMinutes: 241 }), 'invalid_duration'],
      [body({ protocol: 'telnet' }), 'invalid_protocol'],
      [body({ protocol: 'rdp' }), 'protocol_not_available'],
      [body({ startsAt: '2026-11-23 12:00' }), 'invalid_start'],
      [body({ targetId: 'nope' }), 'unknown_target'],
      [[1, 2], 'invalid_body'],
    ];
    for (const [b, code] of cases) {
      const r = await fx.api('vendor', 'POST', '/api/requests', b);
      expect([r.status, r.json.error.code], JSON.stringify(b)).toEqual([400, code]);
    }
    const { id } = await create();
    const extra = await fx.api('sup', 'POST', `/api/requests/${id}/approve`, { force: true });
    expect(extra.json.error.code).toBe('unknown_field');
    expect((await fx.api('sup', 'GET', '/api/requests?state=weird')).json.error.code).toBe('invalid_state');
    expect((await fx.api('sup', 'GET', '/api/requests/..%2F..%2Fetc')).status).toBe(404);
  });
});

describe('concurrency and history', () => {
  it('an approve racing a deny ends in exactly one final state', async () => {
    for (let i = 0; i < 5; i++) {
      const { id } = await create({ durationMinutes: 30 });
      const [a, d] = await Promise.all([
        fx.api('sup', 'POST', `/api/requests/${id}/approve`),
        fx.api('sup2', 'POST', `/api/requests/${id}/deny`, { reason: 'not today' }),
      ]);
      expect([a.status, d.status].sort()).toEqual([200, 409]);
      const winner = a.status === 200 ? 'approved' : 'denied';
      expect((a.status === 200 ? d : a).json.error.code).toBe('not_pending');
      const final = await fx.api('auditor', 'GET', `/api/requests/${id}`);
      expect(final.json.state).toBe(winner);
      expect(final.json.decisions).toHaveLength(1);
      const decided = (await fx.auditRecords()).filter(
        (r) => r.subject?.requestId === id && (r.type === 'request.approved' || r.type === 'request.denied'),
      );
      expect(decided.map((r) => r.type)).toEqual([`request.${winner}`]);
    }
  });

  it('the same approver clicking twice at once counts once', async () => {
    const { id } = await create({ targetId: 'eng-ws-02' });
    const rs = await Promise.all([1, 2, 3].map(() => fx.api('sup', 'POST', `/api/requests/${id}/approve`)));
    expect(rs.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const v = await fx.api('sup', 'GET', `/api/requests/${id}`);
    expect(v.json).toMatchObject({ state: 'pending', approvals: 1, approvalsRequired: 2 });
  });

  it('keeps every request, whatever its end: history is never deleted', async () => {
    const a = await create();
    const b = await create();
    const c = await create();
    await fx.api('sup', 'POST', `/api/requests/${a.id}/deny`, { reason: 'no' });
    await fx.api('vendor', 'POST', `/api/requests/${b.id}/cancel`);
    await fx.api('sup', 'POST', `/api/requests/${c.id}/approve`);
    await fx.api('sup', 'POST', `/api/requests/${c.id}/revoke`, { reason: 'done early' });
    const all = await fx.api('auditor', 'GET', '/api/requests');
    expect(all.json.requests.map((r: { state: string }) => r.state).sort()).toEqual(['cancelled', 'denied', 'revoked']);
    expect(fx.store.data.requests).toHaveLength(3);
    const ended = await fx.api('auditor', 'GET', '/api/requests?state=denied,revoked');
    expect(ended.json.requests).toHaveLength(2);
  });
});
