// The authorization matrix: every role against every access route, with the expected status per cell.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { body, type Fixture, openFixture, type Who } from './requests-fixture.js';

let fx: Fixture;
beforeAll(async () => {
  // Every mutating cell makes a new pending request: lift the per-vendor bound on open requests.
  fx = await openFixture({ broker: { maxPendingPerUser: 1000 } });
});
afterAll(async () => {
  await fx.close();
});

type Caller = Exclude<Who, 'sup2' | 'dual'> | 'anon';
const CALLERS: Caller[] = ['anon', 'vendor', 'vendor2', 'sup', 'supOther', 'auditor', 'admin'];

/** A fresh request of `vendor` for each mutating cell, so one cell's outcome never decides the next. */
async function fresh(approved = false): Promise<string> {
  const r = await fx.api('vendor', 'POST', '/api/requests', body({ durationMinutes: 30 }));
  if (approved) await fx.api('sup2', 'POST', `/api/requests/${r.json.id}/approve`);
  return r.json.id as string;
}

// vendor owns the request; vendor2 is another org; sup approves eng-ws-01; supOther approves line 1 only;
// the auditor reads all and changes nothing; the admin reads all but is in no approver group of eng-ws-01.
const ROUTES: Array<{
  name: string;
  call: () => Promise<{ method: string; path: string; body?: unknown }>;
  expect: Record<Caller, number>;
}> = [
  {
    name: 'GET /api/targets',
    call: async () => ({ method: 'GET', path: '/api/targets' }),
    expect: { anon: 401, vendor: 200, vendor2: 200, sup: 200, supOther: 200, auditor: 200, admin: 200 },
  },
  {
    name: 'POST /api/requests',
    call: async () => ({ method: 'POST', path: '/api/requests', body: body({ durationMinutes: 30 }) }),
    expect: { anon: 401, vendor: 201, vendor2: 201, sup: 403, supOther: 403, auditor: 403, admin: 403 },
  },
  {
    name: 'GET /api/requests',
    call: async () => ({ method: 'GET', path: '/api/requests' }),
    expect: { anon: 401, vendor: 200, vendor2: 200, sup: 200, supOther: 200, auditor: 200, admin: 200 },
  },
  {
    name: 'GET /api/requests/history',
    call: async () => ({ method: 'GET', path: '/api/requests/history' }),
    expect: { anon: 401, vendor: 403, vendor2: 403, sup: 200, supOther: 200, auditor: 200, admin: 200 },
  },
  {
    name: 'GET /api/requests/:id',
    call: async () => ({ method: 'GET', path: `/api/requests/${await fresh()}` }),
    expect: { anon: 401, vendor: 200, vendor2: 404, sup: 200, supOther: 404, auditor: 200, admin: 200 },
  },
  {
    name: 'GET /api/requests/:id (no such id)',
    call: async () => ({ method: 'GET', path: '/api/requests/req_000000000000000000000000' }),
    expect: { anon: 401, vendor: 404, vendor2: 404, sup: 404, supOther: 404, auditor: 404, admin: 404 },
  },
  {
    name: 'POST /api/requests/:id/approve',
    call: async () => ({ method: 'POST', path: `/api/requests/${await fresh()}/approve` }),
    expect: { anon: 401, vendor: 403, vendor2: 403, sup: 200, supOther: 404, auditor: 403, admin: 403 },
  },
  {
    name: 'POST /api/requests/:id/deny',
    call: async () => ({ method: 'POST', path: `/api/requests/${await fresh()}/deny`, body: { reason: 'no' } }),
    expect: { anon: 401, vendor: 403, vendor2: 403, sup: 200, supOther: 404, auditor: 403, admin: 403 },
  },
  {
    name: 'POST /api/requests/:id/cancel',
    call: async () => ({ method: 'POST', path: `/api/requests/${await fresh()}/cancel` }),
    expect: { anon: 401, vendor: 200, vendor2: 404, sup: 403, supOther: 404, auditor: 403, admin: 403 },
  },
  {
    name: 'POST /api/requests/:id/revoke',
    call: async () => ({
      method: 'POST',
      path: `/api/requests/${await fresh(true)}/revoke`,
      body: { reason: 'stop' },
    }),
    expect: { anon: 401, vendor: 403, vendor2: 403, sup: 200, supOther: 404, auditor: 403, admin: 403 },
  },
];

async function openEvents(who: Caller): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(`${fx.base}/api/events`, {
    headers: who === 'anon' ? {} : { 'x-test-session': `ws_${who}` },
    signal: ac.signal,
  });
  const status = res.status;
  if (status === 200) expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  ac.abort();
  await res.body?.cancel().catch(() => {});
  return status;
}

describe('authorization matrix', () => {
  for (const route of ROUTES) {
    it(route.name, async () => {
      const got: Record<string, number> = {};
      for (const who of CALLERS) {
        const { method, path, body: b } = await route.call();
        got[who] = (await fx.api(who === 'anon' ? undefined : who, method, path, b)).status;
      }
      expect(got).toEqual(route.expect);
    });
  }

  it('GET /api/events', async () => {
    const got: Record<string, number> = {};
    for (const who of CALLERS) got[who] = await openEvents(who);
    expect(got).toEqual({ anon: 401, vendor: 200, vendor2: 200, sup: 200, supOther: 200, auditor: 200, admin: 200 });
  });

  it('lists only what each role may see', async () => {
    const theirs = (await fx.api('vendor2', 'POST', '/api/requests', body({ durationMinutes: 30 }))).json.id;
    const seen: Record<string, string[]> = {};
    for (const who of CALLERS.filter((c): c is Exclude<Caller, 'anon'> => c !== 'anon')) {
      const list = await fx.api(who, 'GET', '/api/requests');
      seen[who] = [
        ...new Set(list.json.requests.map((r: { requester: { id: string } }) => r.requester.id)),
      ] as string[];
      expect(list.json.requests.some((r: { id: string }) => r.id === theirs)).toBe(
        ['vendor2', 'sup', 'auditor', 'admin'].includes(who),
      );
    }
    expect(seen.vendor).toEqual(['usr_vendor']);
    expect(seen.vendor2).toEqual(['usr_vendor2']);
    expect(seen.supOther).toEqual([]);
    for (const who of ['sup', 'auditor', 'admin']) expect(seen[who]!.sort()).toEqual(['usr_vendor', 'usr_vendor2']);
  });

  it('targets: vendors may request all, supervisors see what they approve; no hosts or credentials', async () => {
    const flags = async (who: Exclude<Caller, 'anon'>) =>
      (await fx.api(who, 'GET', '/api/targets')).json.targets.map(
        (t: { id: string; canRequest: boolean; canApprove: boolean }) => `${t.id}:${+t.canRequest}${+t.canApprove}`,
      );
    expect(await flags('vendor')).toEqual(['eng-ws-01:10', 'eng-ws-02:10', 'line1-ws:10']);
    expect(await flags('sup')).toEqual(['eng-ws-01:01', 'eng-ws-02:01']);
    expect(await flags('supOther')).toEqual(['line1-ws:01']);
    expect(await flags('auditor')).toEqual(['eng-ws-01:00', 'eng-ws-02:00', 'line1-ws:00']);
    const t = await fx.api('vendor', 'GET', '/api/targets');
    const text = JSON.stringify(t.json);
    for (const secret of [
      '10.2.0.15',
      'hostKeySha256',
      'credential',
      'target-key',
      'WS02_PASSWORD',
      'username',
      '"host"',
    ])
      expect(text).not.toContain(secret);
    const ws1 = t.json.targets[0];
    expect(ws1).toMatchObject({
      zone: 'Cell 2',
      securityLevel: 3,
      protocols: ['ssh'],
      approvalsRequired: 1,
      emergencyApprovalsRequired: 2,
      maxDurationMinutes: 240,
      timeZone: 'Europe/Berlin',
    });
    // Monday 11:00 Berlin: today's window is open (06:00–18:00 local = 05:00–17:00 UTC), then the next four.
    expect(ws1.nextWindows).toHaveLength(5);
    expect(ws1.nextWindows[0]).toEqual({ start: '2026-11-23T05:00:00.000Z', end: '2026-11-23T17:00:00.000Z' });
    expect(ws1.nextWindows[4]).toEqual({ start: '2026-11-27T05:00:00.000Z', end: '2026-11-27T17:00:00.000Z' });
    expect(t.json.targets[1]).toMatchObject({ maintenanceWindows: null, nextWindows: [], protocols: ['ssh', 'rdp'] });
  });
});
