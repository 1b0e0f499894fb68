// Shared lists (the PostgreSQL cache's collections): they read as the arrays they hold, refuse writes, and the next
// state shares every chunk an update did not change, so an update allocates what it changed; a reader holding the
// old state keeps seeing it. The drafts over them are tested in store-draft.test.ts (every draft test runs on both).
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../gateway/store/clone.js';
import { Draft, type DraftShape, findById, idIndexOf } from '../../gateway/store/draft.js';
import { CHUNK, sharedChunks, sharedList } from '../../gateway/store/shared-list.js';
import { type DbData, emptyDb } from '../../gateway/store/schema.js';
import { applyRows, cachedState, PG_SHAPE } from '../../gateway/storage/postgres/rows.js';

type Rec = { id: string; n: number; tags?: string[] };
const recs = (n: number, from = 0): Rec[] =>
  deepFreeze(Array.from({ length: n }, (_, i) => ({ id: `s${from + i}`, n: from + i, tags: ['a'] })));

interface State {
  sessions: Rec[];
  meta: Record<string, unknown>;
}
const shape: DraftShape = { lists: ['sessions'], maps: ['meta'], fixed: [], extraKeys: false, requireIds: true };
const state = (sessions: Rec[]): State => Object.freeze({ sessions, meta: Object.freeze({}) });

function run(s: State, fn: (d: State) => void) {
  const draft = new Draft(s, shape);
  fn(draft.root);
  return draft.finish();
}

const chunksOf = (list: readonly unknown[]) => sharedChunks(list)!.dir;

describe('a shared list', () => {
  it('reads as the array it holds: length, indexes, searches, iteration, spread, JSON, keys, equality', () => {
    const plain = recs(2 * CHUNK + 5);
    const list = sharedList(plain);
    expect(Array.isArray(list)).toBe(true);
    expect(list.length).toBe(plain.length);
    for (const i of [0, CHUNK - 1, CHUNK, 2 * CHUNK + 4]) expect(list[i]).toBe(plain[i]);
    expect(list[plain.length]).toBeUndefined();
    expect(list[-1 as number]).toBeUndefined();
    const odd = (x: Rec) => x.n % 2 === 1;
    const late = (x: Rec, i: number, a: Rec[]) => i > a.length - 3 && x.n > 0;
    for (const pred of [odd, late, (x: Rec) => x.id === 's1030', (x: Rec) => x.id === 'none'])
      for (const m of ['find', 'findLast', 'findIndex', 'findLastIndex', 'some', 'every', 'filter'] as const)
        expect((list[m] as (p: typeof pred) => unknown)(pred), m).toEqual(
          (plain[m] as (p: typeof pred) => unknown)(pred),
        );
    const that = { want: 's7' };
    const withThis = function (this: typeof that, x: Rec) {
      return x.id === this.want;
    };
    expect(list.find(withThis, that)).toBe(plain[7]);
    expect(list.map((x, i) => x.n - i)).toEqual(plain.map((x, i) => x.n - i));
    expect(list.reduce((a, x) => a + x.n, 0)).toBe(plain.reduce((a, x) => a + x.n, 0));
    expect(list.reduce((a, x) => ({ ...a, n: a.n + x.n }))).toEqual(plain.reduce((a, x) => ({ ...a, n: a.n + x.n })));
    let each = 0;
    list.forEach((x, i, a) => void (each += x.n === i && a === list ? 1 : 0));
    expect(each).toBe(plain.length);
    expect(list.includes(plain[3]!)).toBe(true);
    expect(list.includes(plain[3]!, 4)).toBe(false);
    expect(list.indexOf(plain[CHUNK + 2]!)).toBe(CHUNK + 2);
    expect(list.at(-1)).toBe(plain.at(-1));
    for (const [from, to] of [
      [CHUNK - 2, CHUNK + 2],
      [-3, undefined],
      [undefined, 2],
      [5, 2],
      [-1e9, 1e9],
      [0.5, 2.5],
    ])
      expect(list.slice(from, to)).toEqual(plain.slice(from, to));
    expect([...list]).toEqual(plain);
    let k = 0;
    for (const x of list) expect(x).toBe(plain[k++]);
    expect(k).toBe(plain.length);
    expect(JSON.stringify(list)).toBe(JSON.stringify(plain));
    expect(Object.keys(list)).toEqual(Object.keys(plain));
    expect(list).toEqual(plain);
    expect(inspect(list)).toBe(inspect(plain));
    expect(CHUNK in list && !(plain.length in list)).toBe(true);
    // Methods not written for it run through the traps and still answer right.
    expect(list.join(',').length).toBe(plain.join(',').length);
    expect(list.concat([]).length).toBe(plain.length);
    expect(list.filter(odd).sort((a, b) => b.n - a.n)[0]!.n).toBe(Math.max(...plain.filter(odd).map((x) => x.n)));
  });

  it('refuses every write, as a frozen array does, and leaves its records alone', () => {
    const list = sharedList(recs(3));
    const writes: Array<() => unknown> = [
      () => list.push(recs(1, 9)[0]!),
      () => (list[0] = recs(1, 9)[0]!),
      () => (list.length = 0),
      () => list.splice(0, 1),
      () => list.sort(),
      () => list.reverse(),
      () => delete (list as unknown as Record<number, unknown>)[0],
      () => Object.defineProperty(list, 'x', { value: 1 }),
      () => Object.freeze(list),
      () => ((list[1] as { n: number }).n = 5),
    ];
    for (const w of writes) expect(w).toThrow(TypeError);
    expect(list.map((x) => x.id)).toEqual(['s0', 's1', 's2']);
    expect(deepFreeze(list)).toBe(list); // deep freezing a state that holds one leaves it as it is
  });

  it('an append copies the last chunk alone; a replacement copies its chunk alone; every other chunk is shared', () => {
    const s0 = state(sharedList(recs(3 * CHUNK - 1)));
    const appended = run(s0, (d) => void d.sessions.push({ id: 'new', n: -1 })).state;
    const [a0, a1, a2] = chunksOf(s0.sessions);
    const after = chunksOf(appended.sessions);
    expect(after[0]).toBe(a0);
    expect(after[1]).toBe(a1);
    expect(after[2]).not.toBe(a2);
    expect(appended.sessions.length).toBe(3 * CHUNK);
    // One more starts a chunk of its own.
    const more = run(appended, (d) => void d.sessions.push({ id: 'more', n: -2 })).state;
    expect(chunksOf(more.sessions).slice(0, 3)).toEqual(after);
    expect(chunksOf(more.sessions)[2]).toBe(after[2]);
    expect(chunksOf(more.sessions)[3]).toEqual([{ id: 'more', n: -2 }]);

    const ended = run(more, (d) => void (d.sessions.find((x) => x.id === `s${CHUNK + 7}`)!.n = 0)).state;
    const e = chunksOf(ended.sessions);
    expect(e.filter((c, i) => c !== chunksOf(more.sessions)[i]).length).toBe(1);
    expect(e[1]).not.toBe(chunksOf(more.sessions)[1]);
    expect(ended.sessions[CHUNK + 7]).toEqual({ id: `s${CHUNK + 7}`, n: 0, tags: ['a'] });
    // An update that leaves the list alone keeps the very same list.
    expect(run(ended, (d) => void (d.meta.x = 1)).state.sessions).toBe(ended.sessions);
    // The id index goes along: the appended ids are found through it.
    expect(findById(more.sessions, 'more')).toBe(3 * CHUNK);
  });

  it('a reader holding the old state keeps seeing it; a failed update changes nothing', () => {
    const s0 = state(sharedList(recs(CHUNK + 3)));
    const held = s0.sessions;
    const heldFirst = held[5];
    const s1 = run(s0, (d) => {
      d.sessions[5]!.n = 500;
      d.sessions.push({ id: 'x', n: 1 });
    }).state;
    expect(held.length).toBe(CHUNK + 3);
    expect(held[5]).toBe(heldFirst);
    expect(held[5]!.n).toBe(5);
    expect(held.find((x) => x.id === 'x')).toBeUndefined();
    expect(s1.sessions[5]!.n).toBe(500);
    expect(s1.sessions.at(-1)).toEqual({ id: 'x', n: 1 });

    const chunks = chunksOf(s1.sessions);
    // A duplicate id fails the commit (after the fn ran): the base is untouched, its chunks the same.
    expect(() => run(s1, (d) => void d.sessions.push({ id: 's3', n: 0 }))).toThrow(/s3 twice/);
    expect(() =>
      run(s1, (d) => {
        d.sessions[0]!.n = 9;
        d.sessions.splice(1, 2);
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(chunksOf(s1.sessions)).toBe(chunks);
    expect(s1.sessions[0]!.n).toBe(0);
    expect(s1.sessions.length).toBe(CHUNK + 4);
  });

  it('a draft that reshapes a shared list (splice, retain, sort) commits a shared list with the same records', () => {
    const s0 = state(sharedList(recs(CHUNK + 10)));
    const r = run(s0, (d) => {
      d.sessions.splice(2, 3);
      d.sessions.sort((a, b) => b.n - a.n);
    });
    const next = r.state.sessions;
    expect(sharedChunks(next)).toBeDefined();
    expect(next.length).toBe(CHUNK + 7);
    expect(next[0]).toBe(s0.sessions.at(-1));
    expect(r.lists.get('sessions')!.deleted.map((x) => (x as Rec).id)).toEqual(['s2', 's3', 's4']);
    expect(r.lists.get('sessions')!.upserted).toEqual([]);
  });
});

describe('the PostgreSQL cache over shared lists', () => {
  const db = (n: number): Readonly<DbData> => {
    const d = emptyDb();
    d.sessions = recs(n) as never;
    return cachedState(d);
  };

  it('holds each collection as a shared list; a draft over it commits only what changed', () => {
    const s = db(CHUNK + 1);
    expect(sharedChunks(s.sessions)).toBeDefined();
    expect(sharedChunks(s.requests)).toBeDefined();
    const draft = new Draft(s, PG_SHAPE);
    draft.root.sessions.find((x) => x.id === 's1')!.endReason = 'window_ended';
    const done = draft.finish();
    expect(done.lists.get('sessions')!.upserted).toEqual([{ id: 's1', n: 1, tags: ['a'], endReason: 'window_ended' }]);
    expect(done.state.requests).toBe(s.requests);
    expect(chunksOf(done.state.sessions)[1]).toBe(chunksOf(s.sessions)[1]);
  });

  it("applies other nodes' rows: replacements and appends share the rest; a deletion rebuilds; frozen either way", () => {
    const s = db(CHUNK + 2);
    idIndexOf(s.sessions);
    const doc = (id: string, n: number) => ({ id, n });
    const { next, changed } = applyRows(s, [
      { collection: 'sessions', id: 's3', doc: doc('s3', 30) },
      { collection: 'sessions', id: 'new', doc: doc('new', 1) },
      { collection: 'sessions', id: 'new', doc: doc('new', 2) },
      { collection: 'meta', id: 'k', doc: { key: 'k', value: 1 } },
    ]);
    expect(changed).toEqual(new Set(['sessions', 'meta']));
    expect(next.sessions.length).toBe(CHUNK + 3);
    expect(next.sessions[3]).toEqual(doc('s3', 30));
    expect(next.sessions.at(-1)).toEqual(doc('new', 2));
    expect(Object.isFrozen(next.sessions[3])).toBe(true);
    expect(chunksOf(next.sessions)[0]).not.toBe(chunksOf(s.sessions)[0]);
    expect(next.sessions[4]).toBe(s.sessions[4]);
    expect(findById(next.sessions, 'new')).toBe(CHUNK + 2);
    expect(s.sessions[3]).toEqual({ id: 's3', n: 3, tags: ['a'] }); // the base as it was

    const after = applyRows(next, [
      { collection: 'sessions', id: 's0', doc: doc('s0', 0) },
      { collection: 'sessions', id: 's1', doc: null },
      { collection: 'sessions', id: 's5', doc: doc('s5', 50) },
      { collection: 'sessions', id: 'gone', doc: null },
    ]).next;
    expect(sharedChunks(after.sessions)).toBeDefined();
    expect(after.sessions.map((x) => x.id).slice(0, 4)).toEqual(['s0', 's2', 's3', 's4']);
    expect(after.sessions.length).toBe(CHUNK + 2);
    expect(after.sessions.find((x) => x.id === 's5')).toEqual(doc('s5', 50));
    expect(findById(after.sessions, 's5')).toBe(4);
  });
});
