// Terminal sizes as they enter from vendors (pty-req, window-change, the browser terminal): clamped, and resizes
// coalesced, so one hostile size or a storm of resizes cannot swamp the recording, the target or live viewers.

export const MAX_COLS = 1000;
export const MAX_ROWS = 500;
/** At most one resize is passed on per this interval; the last one asked for wins. */
export const RESIZE_INTERVAL_MS = 100;
const MAX_PIXELS = 65_535;

// Below the minimum counts as not given: RFC 4254 says zero dimensions are ignored, and OpenSSH sends 0×0 for
// `ssh -tt` without a terminal (clamping that to 1×1 would leave the shell a one-column screen).
const fit = (v: unknown, min: number, max: number, fallback: number): number => {
  const n = typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : fallback;
  return Math.min(max, n < min ? fallback : n);
};

export interface TermSize {
  cols: number;
  rows: number;
  width: number;
  height: number;
}

/** 1..1000 columns, 1..500 rows; pixel sizes 0..65535 (a client may send anything a uint32 holds). */
export function clampSize<T extends Partial<TermSize>>(s: T): T & TermSize {
  return {
    ...s,
    cols: fit(s.cols, 1, MAX_COLS, 80),
    rows: fit(s.rows, 1, MAX_ROWS, 24),
    width: fit(s.width, 0, MAX_PIXELS, 0),
    height: fit(s.height, 0, MAX_PIXELS, 0),
  };
}

/**
 * Passes clamped resizes on: none that changes nothing, at most one per `intervalMs`, the newest one last.
 * Why coalesce rather than drop: the target, the recording and viewers must end on the size the vendor has.
 * Why `flush` before the vendor's input: the vendor's keys were typed at the newest size, so the target must
 * have it before it runs them (a `stty size` right after a resize must not see the one before).
 */
export class ResizeGate<T extends TermSize> {
  private last: { cols: number; rows: number };
  private pending: T | undefined;
  private lastAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    initial: { cols: number; rows: number },
    private readonly apply: (size: T) => void,
    private readonly intervalMs = RESIZE_INTERVAL_MS,
  ) {
    this.last = { cols: initial.cols, rows: initial.rows };
  }

  push(size: T): void {
    const s = clampSize(size);
    if (this.timer) {
      this.pending = s;
      return;
    }
    if (s.cols === this.last.cols && s.rows === this.last.rows) return;
    const wait = this.lastAt + this.intervalMs - Date.now();
    if (wait <= 0) return this.emit(s);
    this.pending = s;
    this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Passes a resize still waiting on at once (the vendor's input follows it). */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (p && (p.cols !== this.last.cols || p.rows !== this.last.rows)) this.emit(p);
  }

  /** Drops a resize still waiting (the channel closed). */
  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private emit(s: T): void {
    this.last = { cols: s.cols, rows: s.rows };
    this.lastAt = Date.now();
    this.apply(s);
  }
}
