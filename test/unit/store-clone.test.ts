// jsonClone must behave exactly like a JSON round trip: memory has to match what db.json holds.
import { describe, expect, it } from 'vitest';
import { deepFreeze, jsonClone } from '../../gateway/store/clone.js';

const roundTrip = (v: unknown) => JSON.parse(JSON.stringify(v));

describe('jsonClone', () => {
  it('matches JSON.parse(JSON.stringify(v)) on awkward values', () => {
    const samples: unknown[] = [
      { a: 1, b: 'x', c: true, d: null, e: [1, 'two', { three: 3 }] },
      { when: new Date('2026-11-23T10:00:00Z'), gone: undefined, fn: () => 1, sym: Symbol('s') },
      [undefined, () => 1, Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21],
      { nested: { toJSON: (key: string) => `key:${key}` } },
      { map: new Map([[1, 2]]), set: new Set([1]) },
      'plain',
      42,
      [],
      {},
    ];
    for (const s of samples) expect(jsonClone(s)).toEqual(roundTrip(s));
  });

  it('copies deeply: changing the copy leaves the original alone', () => {
    const original = { users: [{ id: 'usr_1', roles: ['vendor'] }], meta: { n: 1 } };
    const copy = jsonClone(original);
    copy.users[0]!.roles.push('admin');
    copy.meta.n = 2;
    expect(original).toEqual({ users: [{ id: 'usr_1', roles: ['vendor'] }], meta: { n: 1 } });
  });

  it('throws where JSON.stringify throws', () => {
    expect(() => jsonClone({ n: 1n })).toThrow(/BigInt/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => jsonClone(cyclic)).toThrow();
  });
});

describe('deepFreeze', () => {
  it('freezes every level and returns the same object', () => {
    const v = { a: [{ b: 1 }], c: { d: 'x' } };
    expect(deepFreeze(v)).toBe(v);
    expect(Object.isFrozen(v) && Object.isFrozen(v.a) && Object.isFrozen(v.a[0]) && Object.isFrozen(v.c)).toBe(true);
    // A frozen tree still clones into a mutable one.
    const copy = jsonClone(v);
    copy.a[0]!.b = 2;
    expect(copy.a[0]!.b).toBe(2);
  });
});
