// Evidence pack formats: CSV quoting and formula neutralisation, HTML escaping, the period grammar.
import { describe, expect, it } from 'vitest';
import { csvCell, csvRow } from '../../gateway/evidence/csv.js';
import { parseInstant, parsePeriod } from '../../gateway/evidence/period.js';
import { esc } from '../../gateway/evidence/report.js';
import { parseCsv } from '../helpers/csv.js';

describe('CSV cells', () => {
  it.each([
    ['=HYPERLINK("http://evil.example","click")', `"'=HYPERLINK(""http://evil.example"",""click"")"`],
    ["+cmd|' /C calc'!A0", `'+cmd|' /C calc'!A0`],
    ['-2+3', `'-2+3`],
    ['@SUM(A1:A9)', `'@SUM(A1:A9)`],
    ['\t=1+1', `'\t=1+1`],
    ['\r=1+1', `"'\r=1+1"`],
  ])('neutralises a formula: %j', (input, expected) => {
    expect(csvCell(input)).toBe(expected);
    expect(parseCsv(`${csvCell(input)}\r\n`)[0]![0]!.startsWith("'")).toBe(true);
  });

  it('quotes commas, quotes and line breaks, and round-trips them', () => {
    const cells = ['a,b', 'say "hi"', 'two\nlines', 'plain', ' padded ', ''];
    const back = parseCsv(csvRow(cells))[0];
    expect(back).toEqual(cells);
    expect(csvRow(['plain', 'x'])).toBe('plain,x\r\n');
  });

  it('leaves numbers, booleans and harmless text alone; shows NUL and other controls as \\xNN', () => {
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(true)).toBe('true');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell('ls -la')).toBe('ls -la');
    expect(csvCell('a\u0000b\u001bc')).toBe('a\\x00b\\x1bc');
  });
});

describe('HTML escaping', () => {
  it('escapes markup and shows control characters instead of passing them on', () => {
    expect(esc('<script>alert("x")</script>')).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(esc(`a'b&c`)).toBe('a&#39;b&amp;c');
    expect(esc('\u001b]52;c;ZXZpbA==\u0007')).toBe('\\x1b]52;c;ZXZpbA==\\x07');
    expect(esc(undefined)).toBe('');
  });
});

describe('period', () => {
  it('reads dates as 00:00 UTC and times only with an offset', () => {
    expect(parseInstant('2026-11-23')).toBe(Date.UTC(2026, 10, 23));
    expect(parseInstant('2026-11-23T06:00+01:00')).toBe(Date.UTC(2026, 10, 23, 5));
    expect(parseInstant('2026-11-23T06:00:00.000Z')).toBe(Date.UTC(2026, 10, 23, 6));
    for (const bad of [
      '2026-11-23T06:00',
      '2026-02-30',
      '2026-02-30T00:00Z',
      'yesterday',
      '1700000000000',
      '',
      '2026-11-23 06:00Z',
    ])
      expect(parseInstant(bad), bad).toBeUndefined();
  });

  it('refuses an empty, reversed or overlong period with a code', () => {
    expect(parsePeriod('2026-11-23', '2026-11-24')).toEqual({
      fromMs: Date.UTC(2026, 10, 23),
      toMs: Date.UTC(2026, 10, 24),
    });
    expect(() => parsePeriod('2026-11-24', '2026-11-23')).toThrow(expect.objectContaining({ code: 'invalid_period' }));
    expect(() => parsePeriod('2026-11-23', '2026-11-23')).toThrow(expect.objectContaining({ code: 'invalid_period' }));
    expect(() => parsePeriod('2024-01-01', '2026-01-01')).toThrow(expect.objectContaining({ code: 'period_too_long' }));
    expect(() => parsePeriod('x', '2026-01-01')).toThrow(expect.objectContaining({ code: 'invalid_from' }));
  });
});
