// GET /api/requests/history and the approval comment over HTTP: what each overseer sees, the filters, the bounds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { body, type Fixture, MIN, openFixture } from './requests-fixture.js';

let fx: Fixture;
const ids: Record<string, string> = {};

beforeAll(async () => {
  fx = await openFixture({ broker: { maxPendingPerUser: 1000 } });
  const make = async (who: 'vendor' | 'vendor2', purpose: string) => {
    const r = await fx.api(who, 'POST', '/api/requests', body({ durationMinutes: 30, purpose }));
    expect(r.status).toBe(201);
    fx.clock.advance(MIN);
    return r.json.id as string;
  };
  ids.approved = await make('vendor', 'Approve me with a comment please');
  ids.denied = await make('vendor2', 'Deny me with a reason please');
  ids.pending = await make('vendor', 'Leave me waiting for a while');
});
afterAll(async () => {
  await fx?.close();
});

describe('approval comment over HTTP', () => {
  it('keeps the comment on the decision and in the audit record', async () => {
    const r = await fx.api('sup', 'POST', `/api/requests/${ids.approved}/approve`, { comment: '  line lead agreed  ' });
    expect(r.status).toBe(200);
    expect(r.json.decisions).toEqual([expect.objectContaining({ verdict: 'approve', reason: 'line lead agreed' })]);
    const rec = (await fx.auditRecords()).find(
      (a) => a.type === 'request.approved' && a.subject?.requestId === ids.approved,
    );
    expect(rec?.data?.comment).toBe('line lead agreed');
    const d = await fx.api('sup', 'POST', `/api/requests/${ids.denied}/deny`, { reason: 'no ticket yet' });
    expect(d.status).toBe(200);
  });

  it('refuses a comment that is too long, not text, or comes with unknown fields — and leaves the request pending', async () => {
    const url = `/api/requests/${ids.pending}/approve`;
    const long = await fx.api('sup', 'POST', url, { comment: 'x'.repeat(501) });
    expect(long.status).toBe(400);
    expect(long.json.error.code).toBe('invalid_comment');
    const typed = await fx.api('sup', 'POST', url, { comment: 42 });
    expect(typed.status).toBe(400);
    expect(typed.json.error.code).toBe('invalid_comment');
    const extra = await fx.api('sup', 'POST', url, { comment: 'ok', reason: 'x' });
    expect(extra.status).toBe(400);
    expect(extra.json.error.code).toBe('unknown_field');
    expect((await fx.api('sup', 'GET', `/api/requests/${ids.pending}`)).json.state).toBe('pending');
  });
});

describe('GET /api/requests/history', () => {
  const list = async (who: 'sup' | 'supOther' | 'auditor', q = '') => {
    const r = await fx.api(who, 'GET', `/api/requests/history${q}`);
    expect(r.status).toBe(200);
    return r.json as { requests: Array<{ id: string; state: string }>; total: number; offset: number; limit: number };
  };

  it('shows each overseer what they may see, newest first', async () => {
    const all = await list('auditor');
    expect(all.requests.map((r) => r.id)).toEqual([ids.pending, ids.denied, ids.approved]);
    expect(all).toMatchObject({ total: 3, offset: 0, limit: 50 });
    // A supervisor of another line sees none of eng-ws-01's requests.
    expect(await list('supOther')).toMatchObject({ requests: [], total: 0 });
  });

  it('filters by state, target, vendor and period, and pages', async () => {
    expect((await list('sup', '?state=denied')).requests.map((r) => r.id)).toEqual([ids.denied]);
    expect((await list('sup', '?state=approved,denied')).total).toBe(2);
    expect((await list('sup', '?target=line1-ws')).total).toBe(0);
    expect((await list('sup', '?vendor=vendor2@othercorp.example')).requests.map((r) => r.id)).toEqual([ids.denied]);
    const created = (await fx.api('sup', 'GET', `/api/requests/${ids.denied}`)).json.createdAt as string;
    const after = new Date(Date.parse(created) + 1).toISOString();
    expect(
      (await list('sup', `?from=${encodeURIComponent(created)}&to=${encodeURIComponent(after)}`)).requests,
    ).toEqual([expect.objectContaining({ id: ids.denied })]);
    const page = await list('sup', '?limit=1&offset=2');
    expect(page).toMatchObject({ total: 3, offset: 2, limit: 1 });
    expect(page.requests.map((r) => r.id)).toEqual([ids.approved]);
  });

  it('answers bad filters with a clear 400', async () => {
    for (const [q, code] of [
      ['?state=lost', 'invalid_state'],
      ['?limit=201', 'invalid_limit'],
      ['?from=yesterday', 'invalid_from'],
      ['?order=asc', 'unknown_parameter'],
    ]) {
      const r = await fx.api('sup', 'GET', `/api/requests/history${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.error.code, q).toBe(code);
    }
  });
});
