// Maintenance windows in the site's zone: DST changes in Berlin and New York, overnight and adjacent windows.
import { describe, expect, it } from 'vitest';
import {
  coversInterval,
  formatLocal,
  isInsideWindow,
  nextWindows,
  type WindowRule,
  windowOccurrencesBetween,
} from '../../gateway/core/windows.js';
import { localToUtc, offsetAt, wallClock } from '../../gateway/core/windows-tz.js';

const BERLIN = 'Europe/Berlin';
const NY = 'America/New_York';
const t = (s: string) => Date.parse(s);
const H = 3_600_000;
const spansOn = (windows: WindowRule[], tz: string, from: string, to: string) =>
  windowOccurrencesBetween(windows, tz, t(from), t(to)).map((s) => ({
    start: new Date(s.start).toISOString(),
    end: new Date(s.end).toISOString(),
    hours: (s.end - s.start) / H,
  }));

describe('wall clock ↔ UTC (Intl only)', () => {
  it('reads offsets and wall clock on both sides of a change', () => {
    expect(offsetAt(BERLIN, t('2026-03-29T00:59:59Z'))).toBe(1 * H);
    expect(offsetAt(BERLIN, t('2026-03-29T01:00:00Z'))).toBe(2 * H);
    expect(wallClock(BERLIN, t('2026-03-29T01:00:00Z'))).toMatchObject({ day: 29, weekday: 0, minute: 180 });
    expect(offsetAt(NY, t('2026-07-01T12:00:00Z'))).toBe(-4 * H);
  });

  it('maps a nonexistent local time (spring-forward gap) to the instant the clocks jump', () => {
    // Berlin 2026-03-29: 02:00 CET → 03:00 CEST at 01:00Z; 02:00 and 02:30 never appear on the clock.
    expect(localToUtc(BERLIN, { year: 2026, month: 3, day: 29 }, 120)).toBe(t('2026-03-29T01:00:00Z'));
    expect(localToUtc(BERLIN, { year: 2026, month: 3, day: 29 }, 150)).toBe(t('2026-03-29T01:00:00Z'));
    expect(localToUtc(NY, { year: 2026, month: 3, day: 8 }, 150)).toBe(t('2026-03-08T07:00:00Z'));
  });

  it('maps an ambiguous local time (fall-back) to its earlier occurrence', () => {
    // Berlin 2026-10-25 02:30 happens at 00:30Z (CEST) and 01:30Z (CET).
    expect(localToUtc(BERLIN, { year: 2026, month: 10, day: 25 }, 150)).toBe(t('2026-10-25T00:30:00Z'));
    // New York 2026-11-01 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
    expect(localToUtc(NY, { year: 2026, month: 11, day: 1 }, 90)).toBe(t('2026-11-01T05:30:00Z'));
  });

  it('formats instants in the site zone', () => {
    expect(formatLocal(t('2026-03-30T04:00:00Z'), BERLIN)).toBe('2026-03-30 06:00 Europe/Berlin');
    expect(formatLocal(t('2026-03-30T04:00:00Z'))).toBe('2026-03-30 04:00 UTC');
  });
});

describe('window occurrences across daylight-saving changes', () => {
  const daily = (from: string, to: string): WindowRule[] => [
    { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from, to },
  ];

  it('opens a 06:00–18:00 window at 05:00Z before and 04:00Z after Berlin springs forward', () => {
    expect(spansOn(daily('06:00', '18:00'), BERLIN, '2026-03-28T00:00:00Z', '2026-03-29T23:00:00Z')).toEqual([
      { start: '2026-03-28T05:00:00.000Z', end: '2026-03-28T17:00:00.000Z', hours: 12 },
      { start: '2026-03-29T04:00:00.000Z', end: '2026-03-29T16:00:00.000Z', hours: 12 },
    ]);
  });

  it('opens it at 04:00Z before and 05:00Z after Berlin falls back', () => {
    expect(spansOn(daily('06:00', '18:00'), BERLIN, '2026-10-24T00:00:00Z', '2026-10-25T23:00:00Z')).toEqual([
      { start: '2026-10-24T04:00:00.000Z', end: '2026-10-24T16:00:00.000Z', hours: 12 },
      { start: '2026-10-25T05:00:00.000Z', end: '2026-10-25T17:00:00.000Z', hours: 12 },
    ]);
  });

  it('makes 01:00–04:00 two hours long on spring-forward day and four on fall-back day (Berlin)', () => {
    const w: WindowRule[] = [{ days: ['sun'], from: '01:00', to: '04:00' }];
    expect(spansOn(w, BERLIN, '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z')).toEqual([
      { start: '2026-03-29T00:00:00.000Z', end: '2026-03-29T02:00:00.000Z', hours: 2 },
    ]);
    expect(spansOn(w, BERLIN, '2026-10-24T12:00:00Z', '2026-10-25T12:00:00Z')).toEqual([
      { start: '2026-10-24T23:00:00.000Z', end: '2026-10-25T03:00:00.000Z', hours: 4 },
    ]);
  });

  it('does the same in New York (2026-03-08 and 2026-11-01, where 01:00 itself is ambiguous)', () => {
    const w: WindowRule[] = [{ days: ['sun'], from: '01:00', to: '04:00' }];
    expect(spansOn(w, NY, '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z')).toEqual([
      { start: '2026-03-08T06:00:00.000Z', end: '2026-03-08T08:00:00.000Z', hours: 2 },
    ]);
    expect(spansOn(w, NY, '2026-10-31T12:00:00Z', '2026-11-01T12:00:00Z')).toEqual([
      { start: '2026-11-01T05:00:00.000Z', end: '2026-11-01T09:00:00.000Z', hours: 4 },
    ]);
    expect(spansOn(daily('06:00', '18:00'), NY, '2026-03-07T00:00:00Z', '2026-03-08T23:00:00Z')).toEqual([
      { start: '2026-03-07T11:00:00.000Z', end: '2026-03-07T23:00:00.000Z', hours: 12 },
      { start: '2026-03-08T10:00:00.000Z', end: '2026-03-08T22:00:00.000Z', hours: 12 },
    ]);
  });

  it('opens a window that starts in the gap when the clocks jump, and drops one wholly inside it', () => {
    expect(
      spansOn([{ days: ['sun'], from: '02:30', to: '05:00' }], BERLIN, '2026-03-29T00:00:00Z', '2026-03-29T12:00:00Z'),
    ).toEqual([{ start: '2026-03-29T01:00:00.000Z', end: '2026-03-29T03:00:00.000Z', hours: 2 }]);
    expect(
      spansOn([{ days: ['sun'], from: '02:15', to: '02:45' }], BERLIN, '2026-03-29T00:00:00Z', '2026-03-29T12:00:00Z'),
    ).toEqual([]);
  });

  it('runs an overnight window fri 22:00 → sat 06:00, also across a change (7 h that night)', () => {
    const w: WindowRule[] = [{ days: ['fri', 'sat'], from: '22:00', to: '06:00' }];
    expect(spansOn(w, BERLIN, '2026-03-27T12:00:00Z', '2026-03-29T12:00:00Z')).toEqual([
      { start: '2026-03-27T21:00:00.000Z', end: '2026-03-28T05:00:00.000Z', hours: 8 },
      { start: '2026-03-28T21:00:00.000Z', end: '2026-03-29T04:00:00.000Z', hours: 7 },
    ]);
    const fri: WindowRule[] = [{ days: ['fri'], from: '22:00', to: '06:00' }];
    expect(isInsideWindow(fri, BERLIN, t('2026-03-27T20:59:59Z'))).toBe(false); // fri 21:59:59
    expect(isInsideWindow(fri, BERLIN, t('2026-03-27T21:00:00Z'))).toBe(true); // fri 22:00
    expect(isInsideWindow(fri, BERLIN, t('2026-03-28T03:00:00Z'))).toBe(true); // sat 04:00
    expect(isInsideWindow(fri, BERLIN, t('2026-03-28T05:00:00Z'))).toBe(false); // sat 06:00: closed
    expect(isInsideWindow(fri, BERLIN, t('2026-03-28T21:30:00Z'))).toBe(false); // sat 22:30: not a fri window
  });
});

describe('isInsideWindow / coversInterval', () => {
  const weekdays: WindowRule[] = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '06:00', to: '18:00' }];

  it('treats no configured windows as always inside and an empty list as never', () => {
    expect(isInsideWindow(undefined, BERLIN, t('2026-03-29T02:00:00Z'))).toBe(true);
    expect(coversInterval(undefined, BERLIN, 0, 10 * 86_400_000)).toBe(true);
    expect(isInsideWindow([], BERLIN, t('2026-03-30T10:00:00Z'))).toBe(false);
    expect(coversInterval([], BERLIN, t('2026-03-30T10:00:00Z'), t('2026-03-30T11:00:00Z'))).toBe(false);
  });

  it('uses the site zone, not UTC: Monday 05:30Z is 07:30 in Berlin', () => {
    expect(isInsideWindow(weekdays, BERLIN, t('2026-03-30T05:30:00Z'))).toBe(true);
    expect(isInsideWindow(weekdays, 'UTC', t('2026-03-30T05:30:00Z'))).toBe(false);
    expect(isInsideWindow(weekdays, BERLIN, t('2026-03-30T16:00:00Z'))).toBe(false); // 18:00: closed
  });

  it('covers an interval only inside one contiguous span', () => {
    expect(coversInterval(weekdays, BERLIN, t('2026-03-30T04:00:00Z'), t('2026-03-30T16:00:00Z'))).toBe(true);
    expect(coversInterval(weekdays, BERLIN, t('2026-03-30T15:00:00Z'), t('2026-03-30T16:00:01Z'))).toBe(false);
    // Mon 17:00 → Tue 07:00 spans two windows with a night between: not covered.
    expect(coversInterval(weekdays, BERLIN, t('2026-03-30T15:00:00Z'), t('2026-03-31T05:00:00Z'))).toBe(false);
  });

  it('joins adjacent windows (mon 18:00–24:00 + tue 00:00–06:00) but not ones with a gap', () => {
    const joined: WindowRule[] = [
      { days: ['mon'], from: '18:00', to: '24:00' },
      { days: ['tue'], from: '00:00', to: '06:00' },
    ];
    const mon20 = t('2026-03-30T18:00:00Z');
    const tue02 = t('2026-03-31T00:00:00Z');
    expect(coversInterval(joined, BERLIN, mon20, tue02)).toBe(true);
    expect(spansOn(joined, BERLIN, '2026-03-30T00:00:00Z', '2026-03-31T12:00:00Z')).toEqual([
      { start: '2026-03-30T16:00:00.000Z', end: '2026-03-31T04:00:00.000Z', hours: 12 },
    ]);
    const gap: WindowRule[] = [
      { days: ['mon'], from: '18:00', to: '23:00' },
      { days: ['tue'], from: '00:00', to: '06:00' },
    ];
    expect(coversInterval(gap, BERLIN, mon20, tue02)).toBe(false);
  });
});

describe('nextWindows', () => {
  const weekdays: WindowRule[] = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '06:00', to: '18:00' }];

  it('lists the open span first, then the next ones, across spring-forward', () => {
    const fri = t('2026-03-27T11:00:00Z'); // Friday 12:00 CET
    const got = nextWindows(weekdays, BERLIN, fri, 3).map((s) => [
      formatLocal(s.start, BERLIN),
      new Date(s.start).toISOString(),
    ]);
    expect(got).toEqual([
      ['2026-03-27 06:00 Europe/Berlin', '2026-03-27T05:00:00.000Z'],
      ['2026-03-30 06:00 Europe/Berlin', '2026-03-30T04:00:00.000Z'],
      ['2026-03-31 06:00 Europe/Berlin', '2026-03-31T04:00:00.000Z'],
    ]);
  });

  it('lists windows across fall-back in New York and looks far enough ahead for sparse windows', () => {
    const sundays: WindowRule[] = [{ days: ['sun'], from: '06:00', to: '18:00' }];
    const got = nextWindows(sundays, NY, t('2026-10-26T00:00:00Z'), 2);
    expect(got.map((s) => new Date(s.start).toISOString())).toEqual([
      '2026-11-01T11:00:00.000Z',
      '2026-11-08T11:00:00.000Z',
    ]);
    expect(got[0]!.end - got[0]!.start).toBe(12 * H);
    const yearly: WindowRule[] = [{ days: ['sun'], from: '01:00', to: '04:00' }];
    expect(nextWindows(yearly, BERLIN, t('2026-01-01T00:00:00Z'), 20)).toHaveLength(20);
  });

  it('returns nothing when unrestricted, when no window exists, or for count 0', () => {
    expect(nextWindows(undefined, BERLIN, 0, 3)).toEqual([]);
    expect(nextWindows([], BERLIN, 0, 3)).toEqual([]);
    expect(nextWindows(weekdays, BERLIN, 0, 0)).toEqual([]);
  });
});
