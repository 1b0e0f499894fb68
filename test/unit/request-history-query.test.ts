// GET /api/requests/history's query and the evidence download's name: the shapes the routes accept and answer.
import { describe, expect, it } from 'vitest';
import { packFileName } from '../../gateway/http/routes/evidence.js';
import { parseHistoryQuery } from '../../gateway/http/routes/request-history.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'accepted';
};

describe('request history query', () => {
  it('reads filters and pages; empty fields are no filter', () => {
    expect(
      parseHistoryQuery({
        state: 'denied,expired',
        target: 'eng-ws-01',
        vendor: 'Vera',
        from: '2026-12-01',
        to: '',
        limit: '20',
        offset: '40',
      }),
    ).toEqual({
      state: 'denied,expired',
      target: 'eng-ws-01',
      vendor: 'Vera',
      from: Date.parse('2026-12-01'),
      limit: 20,
      offset: 40,
    });
  });

  it('refuses unknown parameters, unbounded pages and times without a zone', () => {
    expect(codeOf(() => parseHistoryQuery({ sort: 'x' }))).toBe('unknown_parameter');
    expect(codeOf(() => parseHistoryQuery({ limit: '201' }))).toBe('invalid_limit');
    expect(codeOf(() => parseHistoryQuery({ limit: '0' }))).toBe('invalid_limit');
    expect(codeOf(() => parseHistoryQuery({ offset: '-1' }))).toBe('invalid_offset');
    expect(codeOf(() => parseHistoryQuery({ from: '2026-12-01T10:00' }))).toBe('invalid_from');
    expect(codeOf(() => parseHistoryQuery({ vendor: 'v'.repeat(201) }))).toBe('invalid_vendor');
    expect(codeOf(() => parseHistoryQuery({ state: ['a', 'b'] }))).toBe('invalid_state');
  });
});

describe('evidence download name', () => {
  const day = (s: string) => Date.parse(`${s}T00:00:00Z`);
  it('names whole days by the first and the last day included', () => {
    expect(packFileName(day('2026-12-01'), day('2026-12-07'))).toBe('gatehouse-evidence-2026-12-01-to-2026-12-06.zip');
    expect(packFileName(day('2026-12-06'), day('2026-12-07'))).toBe('gatehouse-evidence-2026-12-06.zip');
  });
  it('names any other period by its two instants', () => {
    expect(packFileName(day('2026-12-01') + 3600_000, day('2026-12-02'))).toMatch(
      /^gatehouse-evidence-[0-9TZ]+-[0-9TZ]+\.zip$/,
    );
  });
});
