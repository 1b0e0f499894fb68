// The scheduler: expiry, grant end closing live sessions, 5- and 1-minute warnings, rebuilt state after a restart.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit-log.js';
import { Broker } from '../../gateway/broker.js';
import { silentLogger } from '../../gateway/log.js';
import { Scheduler, type SchedulerOptions } from '../../gateway/scheduler.js';
import { type LiveSession, LiveSessions } from '../../gateway/sessions.js';
import { Store } from '../../gateway/store.js';
import { body, type Fixture, MIN, openFixture, T0 } from './requests-fixture.js';

let fx: Fixture;
let scheduler: Scheduler;
beforeEach(async () => {
  fx = await openFixture();
  scheduler = schedulerFor();
});
afterEach(async () => {
  await scheduler.stop();
  await fx.close();
});

/** A scheduler on the fixture's clock and time zone; by default its broker, registry and audit log too. */
function schedulerFor(o: Partial<SchedulerOptions> = {}) {
  return new Scheduler({
    broker: fx.broker,
    sessions: fx.sessions,
    audit: fx.audit,
    clock: fx.clock,
    timeZone: 'Europe/Berlin',
    ...o,
  });
}

async function grant(minutes: number): Promise<{ id: string; grantId: string }> {
  const { id } = (await fx.api('vendor', 'POST', '/api/requests', body({ durationMinutes: minutes }))).json;
  const r = await fx.api('sup', 'POST', `/api/requests/${id}/approve`);
  return { id, grantId: r.json.grantId };
}

function fakeSession(grantId: string, id = 'ses_1') {
  const log: string[] = [];
  const session: LiveSession = {
    id,
    grantId,
    userId: fx.users.vendor.id,
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    startedAt: new Date(fx.clock.now()).toISOString(),
    close: async (reason, message) => {
      log.push(`close:${reason}:${message}`);
    },
    warn: (message) => log.push(`warn:${message}`),
  };
  return { session, log };
}

const ofType = async (type: string) => (await fx.auditRecords()).filter((r) => r.type === type);

describe('scheduler', () => {
  it('expires a pending request once its window has passed, once', async () => {
    const { id } = (await fx.api('vendor', 'POST', '/api/requests', body({ durationMinutes: 60 }))).json;
    fx.clock.advance(59 * MIN);
    expect((await scheduler.sweepNow()).expired).toEqual([]);
    fx.clock.advance(MIN);
    expect((await scheduler.sweepNow()).expired).toEqual([id]);
    expect((await fx.api('vendor', 'GET', `/api/requests/${id}`)).json).toMatchObject({
      state: 'expired',
      closedReason: 'window ended undecided',
    });
    expect(await scheduler.sweepNow()).toEqual({ expired: [], ended: [], closed: [], warned: [] });
    const recs = await ofType('request.expired');
    expect(recs).toHaveLength(1);
    expect(recs[0]!.actor).toEqual({ kind: 'system', id: 'scheduler' });
  });

  it('warns live sessions at 5 and 1 minutes, then ends the grant and closes them at the window end', async () => {
    const { grantId } = await grant(30);
    const { session, log } = fakeSession(grantId);
    fx.sessions.register(session);
    fx.clock.set(T0 + 24 * MIN);
    expect((await scheduler.sweepNow()).warned).toEqual([]);
    fx.clock.set(T0 + 25 * MIN);
    expect((await scheduler.sweepNow()).warned).toEqual([{ sessionId: 'ses_1', minutesLeft: 5 }]);
    fx.clock.set(T0 + 27 * MIN);
    expect((await scheduler.sweepNow()).warned).toEqual([]); // the 5-minute warning is not repeated
    fx.clock.set(T0 + 29 * MIN + 30_000);
    expect((await scheduler.sweepNow()).warned).toEqual([{ sessionId: 'ses_1', minutesLeft: 1 }]);
    fx.clock.set(T0 + 30 * MIN);
    expect(await scheduler.sweepNow()).toMatchObject({ ended: [grantId], closed: [] });
    expect(log).toEqual([
      'warn:your access to eng-ws-01 ends in 5 minutes (2026-11-23 11:30 Europe/Berlin); save your work.',
      'warn:your access to eng-ws-01 ends in 1 minute (2026-11-23 11:30 Europe/Berlin); save your work.',
      'close:window_ended:your access window has ended',
    ]);
    expect(fx.sessions.list()).toEqual([]);
    expect((await ofType('session.warned')).map((r) => r.data?.minutesLeft)).toEqual([5, 1]);
    const endedRecs = await ofType('grant.ended');
    expect(endedRecs).toHaveLength(1);
    expect(endedRecs[0]!.subject).toMatchObject({ grantId });
    expect(() => fx.sessions.register(fakeSession(grantId, 'ses_2').session)).toThrow(/ended/);
    expect((await scheduler.sweepNow()).ended).toEqual([]);
  });

  it('closes a live session whose grant is no longer active even if the registry was not told', async () => {
    const { id, grantId } = await grant(60);
    await fx.api('sup', 'POST', `/api/requests/${id}/revoke`, { reason: 'stop now' });
    // A registry that missed the revoke (as after a bug or a race): the sweep still enforces the grant.
    const fresh = new LiveSessions();
    const s = schedulerFor({ sessions: fresh });
    const { session, log } = fakeSession(grantId);
    fresh.register(session);
    expect((await s.sweepNow()).closed).toEqual(['ses_1']);
    expect(log).toEqual(['close:revoked:your access has been revoked by a supervisor']);
  });

  it('on a node that does not lead, records nothing time decided but still closes its own sessions past their end', async () => {
    const pending = (await fx.api('vendor', 'POST', '/api/requests', body({ durationMinutes: 60 }))).json.id as string;
    const { grantId } = await grant(30);
    const { session, log } = fakeSession(grantId);
    fx.sessions.register(session);
    let leads = false;
    const follower = schedulerFor({ leads: () => leads });
    fx.clock.set(T0 + 60 * MIN);
    expect(await follower.sweepNow()).toEqual({ expired: [], ended: [], closed: ['ses_1'], warned: [] });
    expect(log).toEqual(['close:window_ended:your access window has ended']);
    expect(await ofType('request.expired')).toEqual([]);
    expect(await ofType('grant.ended')).toEqual([]);
    // Leadership moves here: what fell due is recorded now, once.
    leads = true;
    expect(await follower.sweepNow()).toMatchObject({ expired: [pending], ended: [grantId] });
    expect(await ofType('request.expired')).toHaveLength(1);
    expect((await follower.enforceNow()).closed).toEqual([]);
  });

  it('runs on its own timer: a grant end closes the session within a second of the clock passing it', async () => {
    const { grantId } = await grant(30);
    const { session, log } = fakeSession(grantId);
    fx.sessions.register(session);
    scheduler = schedulerFor({ everyMs: 100 });
    scheduler.start();
    fx.clock.set(T0 + 30 * MIN);
    const t = Date.now();
    while (!log.some((l) => l.startsWith('close:')) && Date.now() - t < 2000)
      await new Promise((r) => setTimeout(r, 10));
    expect(Date.now() - t).toBeLessThan(1000);
    expect(log.at(-1)).toBe('close:window_ended:your access window has ended');
  });

  it('rebuilds from the store after a restart: what came due while down is recorded once', async () => {
    const { id: pendingId } = (await fx.api('vendor', 'POST', '/api/requests', body({ durationMinutes: 60 }))).json;
    const { grantId } = await grant(60);
    // Gateway down: the scheduler never ran; time passes the window end.
    await fx.audit.close();
    await fx.store.close();
    fx.clock.set(T0 + 3 * 3600_000);
    const store = await Store.open({ dir: fx.dir });
    const audit = await AuditLog.open({ dir: fx.dir, clock: fx.clock, checkpointIntervalMs: 0 });
    await store.attachAudit(audit);
    try {
      const sessions = new LiveSessions();
      const broker = new Broker({ config: fx.config, store, audit, clock: fx.clock, logger: silentLogger, sessions });
      const restarted = schedulerFor({ broker, sessions, audit });
      restarted.start(); // sweeps at once
      await restarted.stop(); // waits for that sweep
      const byId = new Map(store.data.requests.map((r) => [r.id, r]));
      expect(byId.get(pendingId)?.state).toBe('expired');
      const granted = [...byId.values()].find((r) => r.grantId === grantId)!;
      expect(granted).toMatchObject({ state: 'approved', closedReason: 'window_ended' });
      expect(await restarted.sweepNow()).toEqual({ expired: [], ended: [], closed: [], warned: [] });
      // A second restart finds nothing left to do either.
      const broker2 = new Broker({ config: fx.config, store, audit, clock: fx.clock, logger: silentLogger, sessions });
      const again = schedulerFor({ broker: broker2, sessions, audit });
      expect((await again.sweepNow()).ended).toEqual([]);
    } finally {
      await audit.close();
      await store.close();
    }
    expect((await ofType('grant.ended')).map((r) => r.subject?.grantId)).toEqual([grantId]);
    expect((await ofType('request.expired')).map((r) => r.subject?.requestId)).toEqual([pendingId]);
  });
});

describe('scheduler: what other nodes committed', () => {
  it('closes a live session whose record carries a terminate, as terminated with the asker’s line', async () => {
    const { grantId } = await grant(60);
    const { session, log } = fakeSession(grantId, 'ses_term');
    fx.sessions.register(session);
    const asked = new Map([
      [
        'ses_term',
        {
          at: '2026-11-23T10:00:00.000Z',
          by: 'usr_s',
          byName: 'Sam',
          reason: 'r',
          message: 'Sam terminated this session: r',
        },
      ],
    ]);
    const s = schedulerFor({ terminationOf: (id) => asked.get(id) });
    try {
      expect((await s.sweepNow()).closed).toEqual(['ses_term']);
      expect(log).toEqual(['close:terminated:Sam terminated this session: r']);
      expect(fx.sessions.get('ses_term')).toBeUndefined();
    } finally {
      await s.stop();
    }
  });

  it('waits for the catch-up at most one period: a database that hangs does not stop the sweep', async () => {
    const { grantId } = await grant(60);
    fx.sessions.register(fakeSession(grantId, 'ses_ok').session);
    let asked = 0;
    const s = schedulerFor({
      everyMs: 200,
      catchUp: () => {
        asked++;
        return new Promise<void>(() => undefined);
      },
    });
    try {
      const r = await s.sweepNow();
      expect(asked).toBe(1);
      expect(r).toEqual({ expired: [], ended: [], closed: [], warned: [] });
    } finally {
      await s.stop();
    }
  });

  it('a suspended registry refuses new sessions with the reason until resumed', async () => {
    const { grantId } = await grant(60);
    fx.sessions.suspend('no database');
    expect(() => fx.sessions.register(fakeSession(grantId, 'ses_new').session)).toThrow(/no database/);
    expect(fx.sessions.refusing()).toBe('no database');
    fx.sessions.resume();
    expect(fx.sessions.refusing()).toBeUndefined();
    expect(() => fx.sessions.register(fakeSession(grantId, 'ses_new').session)).not.toThrow();
  });
});
