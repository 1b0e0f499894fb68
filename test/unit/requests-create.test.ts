// createRequest: every validation rule, the maintenance-window rule and the emergency path.
import { describe, expect, it } from 'vitest';
import type { TargetRules, Transition } from '../../gateway/core/access.js';
import { createRequest, type RequestInput } from '../../gateway/core/requests.js';
import { counterIds, MON_0800, supervisorOnly, TZ, t, target, vendor } from './fixtures-access.js';

const base: RequestInput = {
  protocol: 'ssh',
  durationMinutes: 120,
  purpose: '  Update the S7 project for line 2  ',
};
const create = (over: Partial<RequestInput> = {}, tgt: TargetRules = target, now = MON_0800) =>
  createRequest({ ...base, ...over }, tgt, vendor, now, counterIds(), TZ);
const code = (r: Transition) => (r.ok ? 'ok' : r.code);

describe('createRequest', () => {
  it('creates a pending request starting now, with a request.created event', () => {
    const r = create({ ticket: 'INC-1234/ab#7' });
    if (!r.ok) throw new Error(r.message);
    expect(r.next).toMatchObject({
      id: 'req_1',
      userId: 'usr_vendor',
      targetId: 'eng-ws-01',
      protocol: 'ssh',
      state: 'pending',
      startsAt: '2026-03-30T06:00:00.000Z',
      endsAt: '2026-03-30T08:00:00.000Z',
      purpose: 'Update the S7 project for line 2',
      ticket: 'INC-1234/ab#7',
      emergency: false,
      approvalsRequired: 1,
      decisions: [],
      createdAt: '2026-03-30T06:00:00.000Z',
    });
    expect(r.next.grantId).toBeUndefined();
    expect(r.events).toEqual([
      expect.objectContaining({
        type: 'request.created',
        subject: { requestId: 'req_1', targetId: 'eng-ws-01', userId: 'usr_vendor' },
      }),
    ]);
  });

  it('refuses users without the vendor role', () => {
    const r = createRequest(base, target, supervisorOnly, MON_0800, counterIds(), TZ);
    expect(r).toMatchObject({ ok: false, code: 'role_required', kind: 'denied' });
  });

  it('checks the protocol against the target', () => {
    expect(code(create({ protocol: 'rdp' }))).toBe('protocol_not_available');
    expect(code(create({ protocol: 'telnet' }))).toBe('invalid_protocol');
    expect(code(create({ protocol: 'rdp' }, { ...target, rdp: {} }))).toBe('ok');
  });

  it('checks the start: zone required, small skew taken as now, not past, at most 30 days ahead', () => {
    expect(code(create({ startsAt: '2026-03-30 10:00' }))).toBe('invalid_start');
    expect(code(create({ startsAt: '2026-03-30T10:00:00' }))).toBe('invalid_start');
    expect(code(create({ startsAt: '2026-03-30T05:58:59Z' }))).toBe('start_in_past');
    const skewed = create({ startsAt: '2026-03-30T05:59:30Z' });
    expect(skewed.ok && skewed.next.startsAt).toBe('2026-03-30T06:00:00.000Z');
    const later = create({ startsAt: '2026-03-31T09:00:00+02:00' });
    expect(later.ok && [later.next.startsAt, later.next.endsAt]).toEqual([
      '2026-03-31T07:00:00.000Z',
      '2026-03-31T09:00:00.000Z',
    ]);
    expect(code(create({ startsAt: '2026-04-29T06:00:00Z' }))).toBe('ok'); // exactly 30 days
    expect(code(create({ startsAt: '2026-04-29T06:01:00Z' }))).toBe('start_too_far');
  });

  it('checks the duration against the target maximum', () => {
    for (const d of [0, -5, 1.5, 241, Number.NaN])
      expect(code(create({ durationMinutes: d }))).toBe('invalid_duration');
    expect(code(create({ durationMinutes: 1 }))).toBe('ok');
    expect(code(create({ durationMinutes: 240 }))).toBe('ok');
  });

  it('requires a purpose of 10..500 characters after trimming', () => {
    expect(code(create({ purpose: '   too short   ' }))).toBe('invalid_purpose');
    expect(code(create({ purpose: 'x'.repeat(501) }))).toBe('invalid_purpose');
    expect(code(create({ purpose: 'x'.repeat(500) }))).toBe('ok');
    // Characters, not UTF-16 units: 499 + one emoji (two units) is 500 characters.
    expect(code(create({ purpose: `${'x'.repeat(499)}🔧` }))).toBe('ok');
  });

  it('accepts an optional ticket of up to 64 safe characters', () => {
    expect(code(create({ ticket: 'a b' }))).toBe('invalid_ticket');
    expect(code(create({ ticket: 'x'.repeat(65) }))).toBe('invalid_ticket');
    expect(code(create({ ticket: '<script>' }))).toBe('invalid_ticket');
    const blank = create({ ticket: '  ' });
    expect(blank.ok && blank.next.ticket).toBeUndefined();
  });

  it('refuses an interval outside the windows without emergency, naming the next window', () => {
    // Monday 17:00 Berlin + 2 h runs past 18:00.
    const r = create({ startsAt: '2026-03-30T15:00:00Z' });
    expect(r).toMatchObject({ ok: false, code: 'outside_window', kind: 'invalid_input' });
    expect(!r.ok && r.message).toContain(
      'the next window with room for it is 2026-03-31 06:00 Europe/Berlin to 2026-03-31 18:00 Europe/Berlin',
    );
    expect(!r.ok && r.message).toContain('2 approvals');
    // Saturday is outside too.
    expect(code(create({ startsAt: '2026-04-04T08:00:00Z' }))).toBe('outside_window');
  });

  it('takes an emergency outside the windows only with a reason, and doubles the approvals', () => {
    const start = '2026-04-04T08:00:00Z';
    expect(code(create({ startsAt: start, emergency: true }))).toBe('emergency_reason_required');
    expect(code(create({ startsAt: start, emergency: true, emergencyReason: 'line down' }))).toBe(
      'emergency_reason_required',
    );
    const r = create({
      startsAt: start,
      emergency: true,
      emergencyReason: 'Line 2 stopped: PLC fault F0042',
    });
    expect(r.ok && r.next).toMatchObject({
      emergency: true,
      emergencyReason: 'Line 2 stopped: PLC fault F0042',
      approvalsRequired: 2,
    });
    const four = create(
      { emergency: true, emergencyReason: 'Line 2 stopped: PLC fault F0042' },
      { ...target, approvalsRequired: 2 },
    );
    expect(four.ok && four.next.approvalsRequired).toBe(4);
  });

  it('follows the config: no windows key = any time; an empty list = emergencies only', () => {
    const { maintenanceWindows: _, ...anyTime } = target;
    expect(code(create({ startsAt: '2026-04-04T22:00:00Z' }, anyTime))).toBe('ok');
    const r = create({}, { ...target, maintenanceWindows: [] });
    expect(r).toMatchObject({ ok: false, code: 'outside_window' });
    expect(!r.ok && r.message).toContain('eng-ws-01 has no maintenance window that fits it');
  });

  it('checks the window in the site zone across spring-forward (Mon 2026-03-30 is the first CEST weekday)', () => {
    // 06:00 CEST = 04:00Z is inside; 03:30Z (05:30 CEST; 04:30 in winter time) is outside.
    expect(code(create({ startsAt: '2026-03-30T04:00:00Z' }, target, t('2026-03-30T03:00:00Z')))).toBe('ok');
    expect(code(create({ startsAt: '2026-03-30T03:30:00Z' }, target, t('2026-03-30T03:00:00Z')))).toBe(
      'outside_window',
    );
    // The whole 12 h window, 06:00 CEST to 18:00 CEST, fits exactly; a minute more does not.
    const long = { ...target, maxDurationMinutes: 800 };
    const at0600 = t('2026-03-30T04:00:00Z');
    expect(code(create({ durationMinutes: 720 }, long, at0600))).toBe('ok');
    expect(code(create({ durationMinutes: 721 }, long, at0600))).toBe('outside_window');
  });
});
