// The broker's pure pieces: views and abilities, target lists, webhook text, due transitions, body parsing.
import { describe, expect, it } from 'vitest';
import { formatWindow } from '../../gateway/broker/facts.js';
import { requestNotice } from '../../gateway/broker/notice.js';
import { applyDue, dueIds } from '../../gateway/broker/sweep.js';
import { targetViews } from '../../gateway/broker/targets.js';
import { requestView, type ViewContext } from '../../gateway/broker/views.js';
import type { AccessRequest, Role, SessionRecord, User } from '../../gateway/core/model.js';
import { isGatehouseError } from '../../gateway/errors.js';
import { isRequestId, parseCreate, parseEmpty, parseStates } from '../../gateway/http/routes/request-bodies.js';
import { emptyDb } from '../../gateway/store.js';
import { requestsConfig } from '../integration/requests-fixture.js';

const config = requestsConfig('/tmp/unused');
const targets = new Map(config.targets.map((t) => [t.id, t]));
const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const MIN = 60_000;

const user = (id: string, roles: Role[], groups: string[], name = id, org = 'Acme'): User => ({
  id,
  issuer: 'i',
  subject: id,
  name,
  email: `${id}@x.example`,
  org,
  groups,
  roles,
  createdAt: '2026-01-01T00:00:00.000Z',
});
const vendor = user('usr_v', ['vendor'], ['vendors'], 'Alice', 'Acme');
const sup = user('usr_s', ['supervisor'], ['ot-supervisors'], 'Bob', 'Plant 3');
const sup2 = user('usr_s2', ['supervisor'], ['ot-supervisors'], 'Carol', 'Plant 3');
const auditor = user('usr_a', ['auditor'], ['auditors']);
const users = new Map([vendor, sup, sup2, auditor].map((u) => [u.id, u]));

const req = (over: Partial<AccessRequest> = {}): AccessRequest => ({
  id: 'req_1',
  userId: vendor.id,
  targetId: 'eng-ws-01',
  protocol: 'ssh',
  startsAt: '2026-11-23T10:00:00.000Z',
  endsAt: '2026-11-23T12:00:00.000Z',
  durationMinutes: 120,
  purpose: 'Update the S7 project',
  emergency: false,
  state: 'pending',
  approvalsRequired: 1,
  decisions: [],
  createdAt: '2026-11-23T09:00:00.000Z',
  updatedAt: '2026-11-23T09:00:00.000Z',
  ...over,
});

const session = (i: number, grantId = 'grt_old'): SessionRecord => ({
  id: `ses_${i}`,
  grantId,
  requestId: 'req_old',
  userId: vendor.id,
  targetId: 'eng-ws-01',
  protocol: 'ssh',
  via: 'ssh',
  startedAt: new Date(T0 - (i + 1) * 86_400_000).toISOString(),
});

const ctx = (over: Partial<ViewContext> = {}): ViewContext => ({
  now: T0,
  timeZone: 'Europe/Berlin',
  targets,
  users,
  sessions: [],
  ...over,
});

describe('requestView', () => {
  it('shows each viewer exactly the actions the core rules would allow', () => {
    const r = req();
    expect(requestView(sup, r, ctx()).can).toEqual({ approve: true, deny: true, cancel: false, revoke: false });
    expect(requestView(vendor, r, ctx()).can).toEqual({ approve: false, deny: false, cancel: true, revoke: false });
    expect(requestView(auditor, r, ctx()).can).toEqual({ approve: false, deny: false, cancel: false, revoke: false });
    const granted = req({
      state: 'approved',
      grantId: 'grt_1',
      decisions: [{ by: sup.id, at: 'x', verdict: 'approve' }],
    });
    expect(requestView(sup2, granted, ctx()).can).toEqual({ approve: false, deny: false, cancel: false, revoke: true });
    expect(requestView(sup, req(), ctx({ now: T0 + 3 * 3600_000 })).can.approve).toBe(false); // window passed
  });

  it("gives overseers the vendor's other sessions on this target (newest 10), never the vendor", () => {
    const sessions = [...Array.from({ length: 12 }, (_, i) => session(i)), session(99, 'grt_this')];
    const r = req({ grantId: 'grt_this' });
    const v = requestView(auditor, r, ctx({ sessions }));
    expect(v.earlierSessions?.count).toBe(12);
    expect(v.earlierSessions?.recent.map((s) => s.id)).toEqual(Array.from({ length: 10 }, (_, i) => `ses_${i}`));
    expect(requestView(vendor, r, ctx({ sessions })).earlierSessions).toBeUndefined();
    expect(v.windowLocal).toBe('2026-11-23 11:00–13:00 Europe/Berlin');
  });

  it('still renders a request whose target or requester is gone (history outlives config)', () => {
    const v = requestView(auditor, req({ targetId: 'retired', userId: 'usr_gone' }), ctx());
    expect(v.target).toEqual({ id: 'retired', name: 'retired', zone: null, securityLevel: null });
    expect(v.requester).toEqual({ id: 'usr_gone', name: 'usr_gone', org: '', email: '' });
    expect(v.can).toEqual({ approve: false, deny: false, cancel: false, revoke: false });
  });
});

describe('targetViews', () => {
  it('a vendor who is in the approver group through the IdP still cannot approve', () => {
    const odd = user('usr_o', ['vendor'], ['ot-supervisors']);
    const views = targetViews(odd, config.targets, 'Europe/Berlin', T0);
    expect(views.map((t) => [t.id, t.canRequest, t.canApprove])).toEqual([
      ['eng-ws-01', true, false],
      ['eng-ws-02', true, false],
      ['line1-ws', true, false],
    ]);
    expect(targetViews(user('usr_n', [], []), config.targets, 'Europe/Berlin', T0)).toEqual([]);
  });
});

describe('requestNotice', () => {
  const notice = (type: Parameters<typeof requestNotice>[0], r: AccessRequest, by?: User) =>
    requestNotice(type, r, { site: 'P3', timeZone: 'Europe/Berlin', target: targets.get(r.targetId), users, by }).text;

  it('writes one line a chat reader understands', () => {
    const fourEyes = req({
      state: 'approved',
      approvalsRequired: 2,
      decisions: [
        { by: sup.id, at: 'x', verdict: 'approve' },
        { by: sup2.id, at: 'y', verdict: 'approve' },
      ],
    });
    expect(notice('request.approved', fourEyes, sup2)).toBe(
      'Request req_1 by Alice (Acme) for eng-ws-01 (Cell 2) 2026-11-23 11:00–13:00 Europe/Berlin: approved by Bob and Carol',
    );
    const night = req({
      startsAt: '2026-11-23T21:00:00.000Z',
      endsAt: '2026-11-23T23:30:00.000Z',
      emergency: true,
      emergencyReason: 'line stopped',
      approvalsRequired: 2,
    });
    expect(notice('request.created', night)).toBe(
      'Request req_1 by Alice (Acme) for eng-ws-01 (Cell 2) 2026-11-23 22:00 – 2026-11-24 00:30 Europe/Berlin: ' +
        'EMERGENCY request, awaiting 2 approvals (line stopped)',
    );
    expect(notice('request.denied', req({ state: 'denied', closedReason: 'not today' }), sup)).toMatch(
      /: denied by Bob \(not today\)$/,
    );
  });

  it('formats windows on one day or across midnight', () => {
    expect(formatWindow('2026-03-29 01:00 Europe/Berlin', '2026-03-29 04:00 Europe/Berlin')).toBe(
      '2026-03-29 01:00–04:00 Europe/Berlin',
    );
  });
});

describe('due transitions', () => {
  it('expires pending and ends approved grants at endsAt, each once', () => {
    const d = emptyDb();
    d.requests = [
      req({ id: 'req_p' }),
      req({ id: 'req_g', state: 'approved', grantId: 'grt_g' }),
      req({ id: 'req_done', state: 'approved', grantId: 'grt_d', closedReason: 'window_ended' }),
      req({ id: 'req_later', endsAt: '2026-11-23T13:00:00.000Z' }),
      req({ id: 'req_denied', state: 'denied' }),
    ];
    const end = Date.parse('2026-11-23T12:00:00.000Z');
    expect(dueIds(d.requests, end - 1)).toEqual([]);
    const ids = dueIds(d.requests, end);
    expect(ids).toEqual(['req_p', 'req_g']);
    // A decision that won the race inside the store before the sweep's update: the expiry is refused.
    d.requests[0] = { ...d.requests[0]!, state: 'denied' };
    const applied = applyDue(d, ids, end);
    expect(applied.map((a) => a.events[0]!.type)).toEqual(['grant.ended']);
    expect(d.requests[1]).toMatchObject({ state: 'approved', closedReason: 'window_ended' });
    expect(applyDue(d, ids, end + MIN)).toEqual([]);
  });
});

describe('request bodies', () => {
  const codeOf = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return isGatehouseError(e) ? e.code : String(e);
    }
    return 'ok';
  };
  it('refuses unknown fields and wrong shapes with field codes', () => {
    const ok = { targetId: 'a', protocol: 'ssh', durationMinutes: 5, purpose: 'p' };
    expect(parseCreate(ok)).toEqual(ok);
    expect(codeOf(() => parseCreate({ ...ok, userId: 'usr_x' }))).toBe('unknown_field');
    expect(codeOf(() => parseCreate({ ...ok, emergency: 'yes' }))).toBe('invalid_emergency');
    expect(codeOf(() => parseCreate({ ...ok, startsAt: 'x'.repeat(41) }))).toBe('invalid_start');
    expect(codeOf(() => parseCreate(null))).toBe('invalid_body');
    expect(codeOf(() => parseEmpty(undefined))).toBe('ok');
    expect(codeOf(() => parseEmpty({ x: 1 }))).toBe('unknown_field');
    expect(parseStates('pending,approved')).toEqual(['pending', 'approved']);
    expect(codeOf(() => parseStates(['pending']))).toBe('invalid_state');
    expect(isRequestId('req_abc123')).toBe(true);
    expect(isRequestId('../req_1')).toBe(false);
  });
});
