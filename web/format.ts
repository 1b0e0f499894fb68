// Dates and durations for the pages: the site's time zone where the server names it, the browser's otherwise.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string | undefined, withDate: boolean): Intl.DateTimeFormat {
  const key = `${timeZone ?? ''}|${withDate}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      ...(timeZone ? { timeZone } : {}),
      ...(withDate ? { weekday: 'short', day: '2-digit', month: 'short', year: 'numeric' } : {}),
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(key, f);
  }
  return f;
}

const dayOf = (ms: number, timeZone?: string) =>
  new Intl.DateTimeFormat('en-CA', { ...(timeZone ? { timeZone } : {}), dateStyle: 'short' }).format(ms);

/** "Mon, 23 Nov 2026, 11:00" in `timeZone` (default: the browser's). */
export function fmtDateTime(iso: string | number, timeZone?: string): string {
  return formatter(timeZone, true).format(new Date(iso));
}

/** "Mon, 23 Nov 2026, 11:00–13:00", or both dates when the span crosses midnight. */
export function fmtSpan(start: string | number, end: string | number, timeZone?: string): string {
  const a = new Date(start).getTime();
  const b = new Date(end).getTime();
  const sameDay = dayOf(a, timeZone) === dayOf(b, timeZone);
  return `${fmtDateTime(a, timeZone)}–${sameDay ? formatter(timeZone, false).format(b) : fmtDateTime(b, timeZone)}`;
}

/** 150 → "2 h 30 min"; 60 → "1 h"; 45 → "45 min". */
export function fmtDuration(minutes: number): string {
  const m = Math.max(0, Math.round(minutes));
  const hours = Math.floor(m / 60);
  const rest = m % 60;
  if (hours === 0) return `${rest} min`;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

/** How far `ms` lies from now: "in 5 min", "3 h ago". */
export function fmtRelative(ms: number, now = Date.now()): string {
  const diff = Math.round((ms - now) / 60_000);
  const text = fmtDuration(Math.abs(diff));
  if (diff === 0) return 'now';
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

/** The value a datetime-local input shows for `ms` (browser time zone, minute precision). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A datetime-local value (browser time zone) as an ISO instant with Z, or undefined when empty/invalid. */
export function fromLocalInput(value: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The browser's own time zone name, to say which clock an input uses. */
export const browserTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;
