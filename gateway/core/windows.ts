// Maintenance windows in the site's IANA time zone: is an instant or an interval inside one, and which come next.
import { addDays, clockMinutes, type LocalDate, localToUtc, wallClock, weekdayOf } from './windows-tz.js';

export { formatLocal } from './windows-tz.js';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/**
 * One configured window (structurally the config's MaintenanceWindow). `days` names the day a window
 * *opens*: { days: [fri], from: "22:00", to: "06:00" } runs Friday 22:00 to Saturday 06:00.
 * `to` may be "24:00" (the end of the day).
 */
export interface WindowRule {
  days: readonly Weekday[];
  from: string;
  to: string;
}

/**
 * The windows of a target. `undefined` (no `maintenanceWindows` key) means "no restriction": always
 * inside. An empty list means "never inside": every request there is an emergency (config/schema.ts).
 */
export type Windows = readonly WindowRule[] | undefined;

/** Epoch ms, half-open: [start, end). */
export interface Interval {
  start: number;
  end: number;
}

const DAY_INDEX: Record<Weekday, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const DAY_MS = 86_400_000;

/**
 * The occurrence of `rule` that opens on local `date`, if any. Both ends go through localToUtc, so a
 * 06:00 start is 06:00 on the wall clock whatever the offset that day, and the length of a window
 * across a change is what the clock says (01:00–04:00 is 2 h on a spring-forward day, 4 h on fall-back).
 */
function occurrenceOn(rule: WindowRule, tz: string, date: LocalDate): Interval | undefined {
  const weekday = weekdayOf(date);
  if (!rule.days.some((d) => DAY_INDEX[d] === weekday)) return undefined;
  const from = clockMinutes(rule.from);
  const to = clockMinutes(rule.to);
  // Malformed or zero-length rules never open (config/schema.ts rejects them before they get here).
  if (from === undefined || to === undefined || from >= 1440 || from === to) return undefined;
  // from > to crosses midnight: it closes on the next day.
  const start = localToUtc(tz, date, from);
  const end = localToUtc(tz, to > from ? date : addDays(date, 1), to);
  // A window lying wholly inside a spring-forward gap (02:15–02:45 in Berlin) does not open that day.
  return end > start ? { start, end } : undefined;
}

const daysBetween = (a: LocalDate, b: LocalDate) =>
  Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY_MS);

/**
 * The contiguous window spans that overlap [fromMs, toMs), sorted. Occurrences that overlap or touch
 * are joined into one span: mon 18:00–24:00 and tue 00:00–06:00 make one span mon 18:00 → tue 06:00,
 * because a vendor working through midnight is inside a window the whole time. Spans are not clipped
 * to [fromMs, toMs), but one that began before fromMs is reported from at most two local days earlier.
 */
export function windowOccurrencesBetween(
  windows: readonly WindowRule[],
  tz: string,
  fromMs: number,
  toMs: number,
): Interval[] {
  // An occurrence lasts at most 25 h (00:00–24:00 on a fall-back day), so one still open at fromMs
  // opened at most a local day earlier; one more day joins a chain of adjacent windows into it.
  const first = addDays(wallClock(tz, fromMs), -2);
  const n = daysBetween(first, wallClock(tz, Math.max(toMs, fromMs))) + 1;
  const raw: Interval[] = [];
  for (let i = 0; i <= n; i++) {
    const date = addDays(first, i);
    for (const rule of windows) {
      const occ = occurrenceOn(rule, tz, date);
      if (occ) raw.push(occ);
    }
  }
  raw.sort((a, b) => a.start - b.start || a.end - b.end);
  const spans: Interval[] = [];
  for (const occ of raw) {
    const last = spans[spans.length - 1];
    if (last && occ.start <= last.end) last.end = Math.max(last.end, occ.end);
    else spans.push({ ...occ });
  }
  return spans.filter((s) => s.end > fromMs && s.start < Math.max(toMs, fromMs + 1));
}

/** Is `instantMs` inside a window? Windows are half-open: at the closing instant it is outside. */
export function isInsideWindow(windows: Windows, tz: string, instantMs: number): boolean {
  if (windows === undefined) return true;
  return windowOccurrencesBetween(windows, tz, instantMs, instantMs + 1).some(
    (s) => s.start <= instantMs && instantMs < s.end,
  );
}

/**
 * Does [startMs, endMs) lie wholly inside one contiguous span (adjacent windows joined)? Two windows with
 * a gap between them do not cover an interval across the gap: the vendor would work outside a window.
 */
export function coversInterval(windows: Windows, tz: string, startMs: number, endMs: number): boolean {
  if (windows === undefined) return true;
  if (endMs <= startMs) return isInsideWindow(windows, tz, startMs);
  return windowOccurrencesBetween(windows, tz, startMs, endMs).some((s) => s.start <= startMs && endMs <= s.end);
}

/**
 * The next `count` spans that are open at or after `fromMs`, for the request form's picker. A span
 * already open at fromMs comes first, with its real start. With no restriction (`undefined`) there is
 * nothing to pick and the result is []; the caller shows "any time". Looks at most `horizonDays` ahead.
 */
export function nextWindows(
  windows: Windows,
  tz: string,
  fromMs: number,
  count: number,
  horizonDays = 366,
): Interval[] {
  if (windows === undefined || windows.length === 0 || count <= 0) return [];
  for (let span = 8; ; span *= 4) {
    const days = Math.min(span, horizonDays);
    const spans = windowOccurrencesBetween(windows, tz, fromMs, fromMs + days * DAY_MS);
    // More spans than asked means the last one returned closed before the next opened: it is whole.
    if (spans.length > count || days >= horizonDays) return spans.slice(0, count);
  }
}
