// The period an evidence pack covers: [from, to), parsed from a CLI flag or a query string and bounded.
import { invalidInput } from '../errors.js';

export interface Period {
  /** Inclusive start, epoch ms. */
  fromMs: number;
  /** Exclusive end, epoch ms. */
  toMs: number;
}

/** A year and a day: a leap year fits, and one request cannot make the gateway pack its whole history. */
export const MAX_PERIOD_DAYS = 366;

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
// A time needs its offset: "10:00" alone would mean the exporter's zone, which the auditor cannot see.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * `YYYY-MM-DD` (00:00 UTC that day) or an ISO 8601 time with `Z` or an offset. Returns epoch ms, or
 * undefined for anything else (including impossible dates such as 2026-02-30).
 */
export function parseInstant(text: string): number | undefined {
  if (typeof text !== 'string' || text.length > 40) return undefined;
  const d = DATE_ONLY.exec(text);
  if (d) {
    const [y, m, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    const ms = Date.UTC(y, m - 1, day);
    const back = new Date(ms);
    if (back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== day) return undefined;
    return ms;
  }
  if (!DATE_TIME.test(text)) return undefined;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return undefined;
  // Date.parse rolls 2026-02-30T00:00Z over into March; the calendar date must survive the round trip.
  const [y, m, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const noon = Date.UTC(y, m - 1, day, 12);
  if (new Date(noon).getUTCMonth() !== m - 1) return undefined;
  return ms;
}

/** The period of two texts, or a typed invalid_input naming what is wrong. */
export function parsePeriod(from: string, to: string): Period {
  const fromMs = parseInstant(from);
  if (fromMs === undefined)
    throw invalidInput('invalid_from', 'from: expected YYYY-MM-DD or an ISO 8601 time with Z or an offset');
  const toMs = parseInstant(to);
  if (toMs === undefined)
    throw invalidInput('invalid_to', 'to: expected YYYY-MM-DD or an ISO 8601 time with Z or an offset');
  return checkPeriod({ fromMs, toMs });
}

export function checkPeriod(p: Period): Period {
  if (!(p.fromMs < p.toMs)) throw invalidInput('invalid_period', 'from must be before to (the period is [from, to))');
  if (p.fromMs < 0 || p.toMs > Date.UTC(10000, 0, 1))
    throw invalidInput('invalid_period', 'the period is outside the years 1970-9999');
  if (p.toMs - p.fromMs > MAX_PERIOD_DAYS * 86_400_000)
    throw invalidInput(
      'period_too_long',
      `a pack covers at most ${MAX_PERIOD_DAYS} days; export longer periods in parts`,
    );
  return p;
}

export const inPeriod = (p: Period, ms: number): boolean => ms >= p.fromMs && ms < p.toMs;

/** `YYYYMMDD` or `YYYYMMDDTHHMMZ` for file names. */
export function compactInstant(ms: number): string {
  const iso = new Date(ms).toISOString();
  const day = iso.slice(0, 10).replaceAll('-', '');
  return iso.slice(11, 23) === '00:00:00.000' ? day : `${day}T${iso.slice(11, 16).replace(':', '')}Z`;
}
