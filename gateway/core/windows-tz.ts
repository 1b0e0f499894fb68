// Wall-clock arithmetic in an IANA time zone with only Intl (no date library): UTC ↔ local date and time.

/** A calendar date in the site's zone; month 1..12. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

export interface WallClock extends LocalDate {
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
  /** Minutes after local midnight, 0..1439. */
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: constructing them is the slow part of Intl. Throws RangeError on an unknown zone. */
function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      // h23, not hour12:false: the latter prints midnight as "24" in some ICU versions.
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The local wall clock at `ms` read as if it were UTC (ms precision dropped to whole seconds). */
function wallAsUtc(tz: string, ms: number): number {
  const p: Record<string, string> = {};
  for (const part of formatterFor(tz).formatToParts(ms)) p[part.type] = part.value;
  const d = new Date(0);
  d.setUTCFullYear(Number(p.year), Number(p.month) - 1, Number(p.day));
  d.setUTCHours(Number(p.hour), Number(p.minute), Number(p.second), 0);
  return d.getTime();
}

/** The zone's offset from UTC at instant `ms`, in ms (Berlin in summer: +7_200_000). */
export function offsetAt(tz: string, ms: number): number {
  return wallAsUtc(tz, ms) - Math.floor(ms / 1000) * 1000;
}

/** The local date, weekday and minute of day at instant `ms`. */
export function wallClock(tz: string, ms: number): WallClock {
  const d = new Date(wallAsUtc(tz, ms));
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    weekday: d.getUTCDay(),
    minute: d.getUTCHours() * 60 + d.getUTCMinutes(),
  };
}

/** The calendar date `n` days after `date` (n may be negative). */
export function addDays(date: LocalDate, n: number): LocalDate {
  const d = new Date(Date.UTC(2000, 0, 1));
  d.setUTCFullYear(date.year, date.month - 1, date.day + n);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export const weekdayOf = (date: LocalDate): number => {
  const d = new Date(Date.UTC(2000, 0, 1));
  d.setUTCFullYear(date.year, date.month - 1, date.day);
  return d.getUTCDay();
};

const HOUR = 3_600_000;

/**
 * The UTC instant at which the local wall clock of `tz` first reads `minute` (0..1440) on `date`;
 * 1440 is the next day's 00:00. One rule covers both daylight-saving edge cases:
 * - nonexistent time (spring-forward gap, Berlin 2026-03-29 02:30): the clock jumps over it, so it
 *   first reads "at or after 02:30" at the jump itself → 03:00 CEST (01:00Z);
 * - ambiguous time (fall-back, Berlin 2026-10-25 02:30 happens twice): the earlier one (CEST, 00:30Z).
 */
export function localToUtc(tz: string, date: LocalDate, minute: number): number {
  const d = new Date(Date.UTC(2000, 0, 1));
  d.setUTCFullYear(date.year, date.month - 1, date.day);
  const guess = d.getTime() + minute * 60_000; // the wall time read as UTC
  // Every offset in force within a day either side; real zones change offset at most once in that span
  // near a given time, so the true answer uses one of these.
  const offsets = [...new Set([offsetAt(tz, guess - 24 * HOUR), offsetAt(tz, guess), offsetAt(tz, guess + 24 * HOUR)])];
  const valid = offsets.map((o) => guess - o).filter((t) => offsetAt(tz, t) === guess - t);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: the answer is the transition instant, between the candidates of the two offsets.
  const candidates = offsets.map((o) => guess - o).sort((a, b) => a - b);
  return transitionBetween(tz, candidates[0]!, candidates[candidates.length - 1]!);
}

/** The first instant in (lo, hi] whose offset differs from the offset at lo, to the second. */
function transitionBetween(tz: string, lo: number, hi: number): number {
  const before = offsetAt(tz, lo);
  let a = Math.floor(lo / 1000);
  let b = Math.ceil(hi / 1000);
  while (b - a > 1) {
    const mid = Math.floor((a + b) / 2);
    if (offsetAt(tz, mid * 1000) === before) a = mid;
    else b = mid;
  }
  return b * 1000;
}

/** `HH:MM` → minutes after midnight, 0..1440; undefined if malformed (the config schema rejects those). */
export function clockMinutes(s: string): number | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 24 || min > 59 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

/** `2026-03-30 06:00 Europe/Berlin`: how refusals and pickers name an instant to a person on site. */
export function formatLocal(ms: number, tz = 'UTC'): string {
  const w = wallClock(tz, ms);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)} ${pad(Math.floor(w.minute / 60))}:${pad(w.minute % 60)} ${tz}`;
}
