// Terminal sizes from vendors: clamped to 1..1000 × 1..500, resizes that change nothing dropped, the rest coalesced.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { clampSize, ResizeGate, type TermSize } from '../../gateway/ssh/terminal-size.js';

const size = (cols: number, rows: number): TermSize => ({ cols, rows, width: 0, height: 0 });

describe('clampSize', () => {
  it('keeps sizes in range and turns nonsense into something a terminal can take', () => {
    expect(clampSize(size(1_000_000, 1_000_000))).toMatchObject({ cols: 1000, rows: 500 });
    // Zero means not given (RFC 4254; OpenSSH's `ssh -tt` without a terminal): the usual 80×24, never a 1×1 screen.
    expect(clampSize(size(0, 0))).toMatchObject({ cols: 80, rows: 24 });
    expect(clampSize(size(-3, 7))).toMatchObject({ cols: 80, rows: 7 });
    expect(clampSize({ cols: Number.NaN, rows: Infinity, width: 4_294_967_295, height: -5 })).toEqual({
      cols: 80,
      rows: 24,
      width: 65_535,
      height: 0,
    });
    expect(clampSize({ ...size(120.7, 40.2), term: 'xterm' })).toEqual({
      cols: 120,
      rows: 40,
      width: 0,
      height: 0,
      term: 'xterm',
    });
  });
});

describe('ResizeGate', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('passes the first change at once, then at most one per 100 ms, the newest last; drops no-ops', () => {
    const applied: string[] = [];
    const gate = new ResizeGate<TermSize>({ cols: 80, rows: 24 }, (s) => applied.push(`${s.cols}x${s.rows}`));
    gate.push(size(80, 24));
    expect(applied).toEqual([]);
    gate.push(size(1_000_000, 1_000_000));
    expect(applied).toEqual(['1000x500']);
    for (let i = 0; i < 5000; i++) gate.push(size(20 + (i % 40), 60 + (i % 90)));
    gate.push(size(120, 40));
    expect(applied).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(applied).toEqual(['1000x500', '120x40']);
    // Back and forth within one interval ends where it started: nothing to pass on.
    gate.push(size(100, 30));
    gate.push(size(120, 40));
    vi.advanceTimersByTime(100);
    expect(applied).toEqual(['1000x500', '120x40']);
    // A quiet interval later a change passes at once; one still waiting when the channel closes is dropped.
    gate.push(size(90, 30));
    gate.push(size(95, 30));
    gate.dispose();
    vi.advanceTimersByTime(1000);
    expect(applied).toEqual(['1000x500', '120x40', '90x30']);
  });

  it('passes a waiting resize at once when the vendor types (the keys were typed at that size), and only once', () => {
    const applied: string[] = [];
    const gate = new ResizeGate<TermSize>({ cols: 80, rows: 24 }, (s) => applied.push(`${s.cols}x${s.rows}`));
    gate.push(size(100, 30));
    gate.push(size(120, 40));
    expect(applied).toEqual(['100x30']);
    gate.flush();
    expect(applied).toEqual(['100x30', '120x40']);
    vi.advanceTimersByTime(1000);
    gate.flush();
    expect(applied).toEqual(['100x30', '120x40']);
  });
});
