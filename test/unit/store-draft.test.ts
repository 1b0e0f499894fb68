// Copy-on-write drafts: an update fn copies only the records it reaches, the commit knows which records changed
// without comparing the rest, the next state is frozen and shares every untouched record, and db.json's text is
// exactly JSON.stringify of the state.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../gateway/store/clone.js';
import { byId, Draft, type DraftShape, sharedList } from '../../gateway/store/draft.js';
import { FileText } from '../../gateway/store/file-text.js';
import { Store } from '../../gateway/store.js';

type Rec = { id: string; [k: string]: unknown };
interface State {
  schemaVersion: number;
  users: Rec[];
  sessions: Rec[];
  meta: Record<string, unknown>;
  [k: string]: unknown;
}

const shape = (o: Partial<DraftShape> = {}): DraftShape => ({
  lists: ['users', 'sessions'],
  maps: ['meta'],
  fixed: ['schemaVersion'],
  extraKeys: true,
  requireIds: false,
  ...o,
});

const plainBase = (): State =>
  deepFreeze({
    schemaVersion: 2,
    users: [
      { id: 'u1', name: 'A', roles: ['vendor'] },
      { id: 'u2', name: 'B', roles: [] },
    ],
    sessions: Array.from({ length: 5 }, (_, i) => ({ id: `s${i}`, at: i, tags: { n: i } })),
    meta: { n: 1, deep: { list: [1, 2] } },
  });

function run(state: State, fn: (d: State) => void, o?: Partial<DraftShape>) {
  const draft = new Draft(state, shape(o));
  fn(draft.root);
  return draft.finish();
}

const ids = (list: readonly object[]) => list.map((r) => (r as Rec).id);

/** The state as the PostgreSQL cache holds it: each list shared in chunks (store/shared-list.ts). */
const share = (s: State): State =>
  Object.freeze({ ...s, users: sharedList(s.users), sessions: sharedList(s.sessions) });

// Every draft test runs over both kinds of committed list: frozen arrays (lowdb) and shared lists (PostgreSQL).
describe.each([
  { kind: 'frozen arrays', as: (s: State) => s },
  { kind: 'shared lists', as: share },
])('copy-on-write drafts over $kind', ({ kind, as }) => {
  const base = () => as(plainBase());
  it('a found and changed record is the only change; every other record and list stays the same object', () => {
    const s = base();
    const r = run(s, (d) => {
      const x = d.sessions.find((x) => x.id === 's3')!;
      x.at = 30;
    });
    expect([...r.changed]).toEqual(['sessions']);
    expect(r.lists.get('sessions')).toEqual({ upserted: [{ id: 's3', at: 30, tags: { n: 3 } }], deleted: [] });
    expect(r.state.users).toBe(s.users);
    expect(r.state.meta).toBe(s.meta);
    for (const i of [0, 1, 2, 4]) expect(r.state.sessions[i]).toBe(s.sessions[i]);
    expect(r.state.sessions[3]).not.toBe(s.sessions[3]);
    expect(s.sessions[3]!.at).toBe(3); // the base never changes
  });

  it('records only searched (find, some, filter read-only, findIndex) or reached but left equal change nothing', () => {
    const s = base();
    const r = run(s, (d) => {
      d.sessions.some((x) => x.at === 2);
      d.sessions.findIndex((x) => x.id === 's4');
      const u = d.users.find((x) => x.id === 'u1')!;
      u.name = 'Z';
      u.name = 'A'; // back to what it was
      void (d.users[1]!.roles as string[]).length;
    });
    expect(r.changed.size).toBe(0);
    expect(r.state).toBe(s);
  });

  it('searches through the draft answer what the same searches of a plain array answer, and find hands out the copy', () => {
    const s = as(
      deepFreeze({
        ...plainBase(),
        // Two records with one id (lowdb does not require unique ids): find gives the first, findLast the last.
        sessions: [...plainBase().sessions, { id: 's1', at: 9, tags: { n: 9 } }],
      }),
    );
    const plain = JSON.parse(JSON.stringify(s.sessions)) as Rec[];
    const that = { want: 's1' };
    const draft = new Draft(s, shape());
    const d = draft.root;
    const list = d.sessions;
    const json = (v: unknown) => JSON.stringify(v);
    const byId = (x: Rec) => x.id === 's1';
    const withThis = function (this: typeof that, x: Rec) {
      return x.id === this.want;
    };
    const late = (x: Rec, i: number, a: Rec[]) => i >= a.length - 3 && x.at !== 4;
    for (const pred of [byId, late, (x: Rec) => x.id === 'none'])
      for (const m of ['find', 'findLast', 'findIndex', 'findLastIndex', 'some', 'every', 'filter'] as const)
        expect(json((list[m] as (p: typeof pred) => unknown)(pred)), `${m} ${pred.name}`).toBe(
          json((plain[m] as (p: typeof pred) => unknown)(pred)),
        );
    expect(json(list.find(withThis, that))).toBe(json(plain.find(withThis, that)));
    expect(json(list.findLast(withThis, that))).toBe(json(plain.findLast(withThis, that)));
    // The predicate's third argument is the draft's list itself.
    let seen: unknown;
    list.find((_x, _i, a) => ((seen = a), true));
    expect(seen).toBe(list);
    // find hands out the draft's copy: the same object each time, writable, and a later search sees the change.
    const found = list.find(byId)!;
    expect(found).toBe(list[1]);
    expect(list.findLast(byId)).toBe(list[5]);
    expect(Object.isFrozen(found)).toBe(false);
    found.at = 10;
    expect(list.find((x) => x.at === 10)).toBe(found);
    expect(list.findIndex((x) => x.at === 10)).toBe(1);
    const r = draft.finish();
    expect(r.lists.get('sessions')).toEqual({ upserted: [{ id: 's1', at: 10, tags: { n: 1 } }], deleted: [] });
    expect(r.state.sessions[1]).toEqual({ id: 's1', at: 10, tags: { n: 1 } });
    for (const i of [0, 2, 3, 4, 5]) expect(r.state.sessions[i]).toBe(s.sessions[i]);
    expect(s.sessions[1]!.at).toBe(1); // the base never changes
  });

  it('byId finds what find by id finds, through the id index where ids are unique, also after the fn moved ids', () => {
    for (const requireIds of [true, false]) {
      const s = base();
      const draft = new Draft(s, shape({ requireIds }));
      const list = draft.root.sessions;
      const same = (id: string) => {
        const want = list.find((x) => x.id === id);
        expect(byId(list, id), `${id} (ids required: ${requireIds})`).toBe(want);
        return want;
      };
      // A base record: the draft's copy, the one find hands out; a write through it is copy-on-write.
      const s1 = same('s1')!;
      expect(Object.isFrozen(s1)).toBe(false);
      s1.at = 10;
      // A copy whose id the fn changed: found by its new id only.
      byId(list, 's3')!.id = 's7';
      same('s3');
      expect(same('s7')).toBeDefined();
      // A slot written with another record, and an appended one.
      list[2] = { id: 's8', at: 8, tags: { n: 8 } };
      same('s2');
      expect(same('s8')).toBe(list[2]);
      list.push({ id: 's9', at: 9, tags: { n: 9 } });
      expect(same('s9')).toBeDefined();
      // An earlier slot that now holds an id a later base record has: the first one wins, as with find.
      list[0] = { id: 's4', at: 40, tags: { n: 40 } };
      expect(same('s4')).toBe(list[0]);
      same('none');
      const r = draft.finish;
      if (requireIds) expect(() => r.call(draft)).toThrow(/s4 twice/);
    }
    // A reshaped list and a plain array answer by the search itself.
    const draft = new Draft(base(), shape({ requireIds: true }));
    draft.root.sessions.splice(0, 2);
    expect(byId(draft.root.sessions, 's2')).toBe(draft.root.sessions[0]);
    expect(byId(draft.root.sessions, 's1')).toBeUndefined();
    const plain = [{ id: 'a' }, { id: 'b' }];
    expect(byId(plain, 'b')).toBe(plain[1]);
    // The committed state after a change through byId: only that record is new.
    const s = base();
    const d2 = new Draft(s, shape({ requireIds: true }));
    byId(d2.root.sessions, 's4')!.at = 44;
    const done = d2.finish();
    expect(done.lists.get('sessions')).toEqual({ upserted: [{ id: 's4', at: 44, tags: { n: 4 } }], deleted: [] });
    for (const i of [0, 1, 2, 3]) expect(done.state.sessions[i]).toBe(s.sessions[i]);
  });

  it('the committed state is deeply frozen, and a predicate cannot change a committed record', () => {
    const s = base();
    const r = run(s, (d) => void d.sessions.push({ id: 's5', at: 5, tags: { n: 5 } }));
    expect(Object.isFrozen(r.state)).toBe(true);
    // A shared list is read only without being frozen (a Proxy cannot be both an array's length and frozen).
    if (kind === 'frozen arrays') expect(Object.isFrozen(r.state.sessions)).toBe(true);
    expect(() => r.state.sessions.push({ id: 'x' })).toThrow(TypeError);
    expect(() => (r.state.sessions[0] = { id: 'x' })).toThrow(TypeError);
    expect(Object.isFrozen(r.state.sessions[5])).toBe(true);
    expect(Object.isFrozen((r.state.sessions[5] as unknown as { tags: object }).tags)).toBe(true);
    expect(() => ((r.state.sessions[0] as Rec).at = 9)).toThrow(TypeError);
    const draft = new Draft(s, shape());
    expect(() =>
      draft.root.sessions.find((x) => {
        x.at = 9; // a predicate is handed the committed record: read only
        return false;
      }),
    ).toThrow(TypeError);
  });

  it('nested changes: a record’s nested object and array, and a meta value’s nested list', () => {
    const s = base();
    const r = run(s, (d) => {
      d.users[0]!.roles = [...(d.users[0]!.roles as string[]), 'admin'];
      (d.sessions[1]!.tags as { n: number }).n = 100;
      ((d.meta.deep as { list: number[] }).list as number[]).push(3);
    });
    expect(r.state.users[0]).toEqual({ id: 'u1', name: 'A', roles: ['vendor', 'admin'] });
    expect(r.state.sessions[1]).toEqual({ id: 's1', at: 1, tags: { n: 100 } });
    expect(r.state.meta).toEqual({ n: 1, deep: { list: [1, 2, 3] } });
    expect(r.maps.get('meta')).toEqual({ set: new Map([['deep', { list: [1, 2, 3] }]]), deleted: [] });
    expect(ids(r.lists.get('users')!.upserted)).toEqual(['u1']);
    expect(ids(r.lists.get('sessions')!.upserted)).toEqual(['s1']);
    expect(r.state.users[1]).toBe(s.users[1]);
  });

  it('adds and deletes records: push, splice, filter-and-assign, replace by index', () => {
    const s = base();
    const r = run(s, (d) => {
      d.sessions.push({ id: 's9', at: 9 });
      d.sessions.splice(1, 1); // s1 gone
      d.users = d.users.filter((u) => u.id !== 'u2');
    });
    expect(ids(r.state.sessions)).toEqual(['s0', 's2', 's3', 's4', 's9']);
    expect(ids(r.lists.get('sessions')!.upserted)).toEqual(['s9']);
    expect(ids(r.lists.get('sessions')!.deleted)).toEqual(['s1']);
    expect(ids(r.state.users)).toEqual(['u1']);
    expect(r.state.users[0]).toBe(s.users[0]); // kept, not copied
    expect(ids(r.lists.get('users')!.deleted)).toEqual(['u2']);
    expect(r.lists.get('users')!.upserted).toEqual([]);

    const replaced = run(s, (d) => {
      const i = d.sessions.findIndex((x) => x.id === 's2');
      d.sessions[i] = { id: 's2', at: 'new' };
    });
    expect(replaced.lists.get('sessions')).toEqual({ upserted: [{ id: 's2', at: 'new' }], deleted: [] });
    const renamed = run(s, (d) => void (d.sessions[0] = { id: 'sX' }));
    expect(ids(renamed.lists.get('sessions')!.deleted)).toEqual(['s0']);
  });

  it('one record reached two ways is one copy; a sort keeps the records and only reorders', () => {
    const s = base();
    const r = run(s, (d) => {
      const a = d.sessions.find((x) => x.id === 's2')!;
      const b = d.sessions.filter((x) => (x.at as number) >= 2)[0]!;
      expect(a).toBe(b);
      expect(d.sessions[2]).toBe(a);
      a.at = 'two';
      d.sessions.sort((x, y) => (x.id < y.id ? 1 : -1));
    });
    expect(ids(r.state.sessions)).toEqual(['s4', 's3', 's2', 's1', 's0']);
    expect(ids(r.lists.get('sessions')!.upserted)).toEqual(['s2']);
    expect(r.lists.get('sessions')!.deleted).toEqual([]);
    expect(r.state.sessions[0]).toBe(s.sessions[4]);
  });

  it('iteration (for…of, map) hands out copies that can be changed', () => {
    const s = base();
    const r = run(s, (d) => {
      for (const x of d.sessions) if ((x.at as number) % 2 === 0) x.even = true;
      expect(d.users.map((u) => u.id)).toEqual(['u1', 'u2']);
    });
    expect(ids(r.lists.get('sessions')!.upserted)).toEqual(['s0', 's2', 's4']);
    expect(r.changed).toEqual(new Set(['sessions']));
  });

  it('a draft read after its update ended gives the committed records, read only', () => {
    const s = base();
    const draft = new Draft(s, shape());
    const list = draft.root.sessions;
    list.find((x) => x.id === 's1')!.at = 'one';
    const r = draft.finish();
    expect(list[1]).toBe(r.state.sessions[1]);
    expect(list[2]).toBe(s.sessions[2]);
    expect(() => ((list[2] as Rec).at = 9)).toThrow(TypeError);
    expect(() => list.push({ id: 'late' })).toThrow(TypeError);
  });

  it('a throwing fn leaves the base as it was; the draft is simply dropped', () => {
    const s = base();
    const draft = new Draft(s, shape());
    expect(() => {
      draft.root.sessions.find((x) => x.id === 's0')!.at = 'x';
      draft.root.sessions.length = 0;
      throw new Error('no');
    }).toThrow('no');
    expect(s.sessions.length).toBe(5);
    expect(s.sessions[0]!.at).toBe(0);
  });

  it('JSON semantics: a cycle or a BigInt fails; a Date becomes its string; undefined vanishes', () => {
    expect(() => run(base(), (d) => ((d.meta as { self?: unknown }).self = d.meta))).toThrow(/circular/i);
    expect(() => run(base(), (d) => void d.sessions.push({ id: 'b', big: 1n }))).toThrow(/BigInt/);
    const r = run(base(), (d) => {
      d.meta.when = new Date(0);
      d.meta.gone = undefined;
      d.sessions[0]!.at = undefined;
    });
    expect(r.state.meta).toEqual({ n: 1, deep: { list: [1, 2] }, when: '1970-01-01T00:00:00.000Z' });
    expect(Object.keys(r.state.sessions[0]!)).toEqual(['id', 'tags']);
  });

  it('the shape holds: lists stay lists, parts cannot be deleted, schemaVersion is fixed', () => {
    expect(() => run(base(), (d) => ((d as { sessions: unknown }).sessions = {}))).toThrow(/must stay a list/);
    expect(() => run(base(), (d) => ((d as { meta: unknown }).meta = []))).toThrow(/must stay an object/);
    expect(() => run(base(), (d) => delete (d as { users?: unknown }).users)).toThrow(/cannot be deleted/);
    expect(() => run(base(), (d) => (d.schemaVersion = 3))).toThrow(/schemaVersion/);
    const extra = run(base(), (d) => (d.extra = { a: 1 }));
    expect(extra.state.extra).toEqual({ a: 1 });
    expect(() => run(base(), (d) => (d.extra = 1), { extraKeys: false })).toThrow(/unknown state key/);
  });

  it('with ids required: a record without a string id or a duplicate id is refused, also against the base', () => {
    const o = { requireIds: true };
    expect(() => run(base(), (d) => void d.sessions.push({} as Rec), o)).toThrow(/no string id/);
    expect(() => run(base(), (d) => void d.sessions.push({ id: 's1' }), o)).toThrow(/s1 twice/);
    expect(() => run(base(), (d) => void (d.sessions[0] = { id: 's4' }), o)).toThrow(/s4 twice/);
    expect(() => run(base(), (d) => void d.sessions.unshift({ id: 's4' }), o)).toThrow(/s4 twice/);
    // The id index a commit shares with the next list still answers for it.
    const one = run(base(), (d) => void d.sessions.push({ id: 's5' }), o);
    expect(() => run(one.state, (d) => void d.sessions.push({ id: 's5' }), o)).toThrow(/s5 twice/);
    expect(() => run(one.state, (d) => void d.sessions.push({ id: 's6' }), o)).not.toThrow();
  });
});

describe('db.json text from cached record texts', () => {
  it('is exactly JSON.stringify(state) before and after changes', () => {
    const text = new FileText(['users', 'sessions']);
    const s = plainBase();
    expect(Buffer.concat(text.of(s)).toString()).toBe(`${JSON.stringify(s)}\n`);
    const r = run(s, (d) => {
      d.sessions.find((x) => x.id === 's1')!.at = 'changed';
      d.users.push({ id: 'u3', name: '"quoted"\n' });
      d.meta.x = [null];
    });
    expect(Buffer.concat(text.of(r.state)).toString()).toBe(`${JSON.stringify(r.state)}\n`);
  });
});

describe('db.json bytes in chunks', () => {
  it('stays exactly JSON.stringify(state) over many chunks: a change mid-list, appends, a removal at the front', () => {
    const text = new FileText(['users', 'sessions']);
    const bytes = (st: object) => Buffer.concat(text.of(st)).toString();
    let s: State = deepFreeze({
      schemaVersion: 2,
      users: [],
      sessions: Array.from({ length: 700 }, (_, i) => ({ id: `s${i}`, n: i, note: 'ü"\\' })),
      meta: {},
    });
    expect(bytes(s)).toBe(`${JSON.stringify(s)}\n`);
    const steps: Array<(d: State) => void> = [
      (d) => void (d.sessions[300]!.n = -1),
      (d) => void d.sessions.push({ id: 's700' }, { id: 's701' }),
      (d) => void d.sessions.shift(),
      (d) => void (d.sessions = d.sessions.filter((x) => (x.n as number) % 3 !== 0)),
      (d) => void (d.sessions = []),
    ];
    for (const step of steps) {
      const before = text.of(s);
      const next = run(s, step).state;
      const after = text.of(next);
      expect(bytes(next)).toBe(`${JSON.stringify(next)}\n`);
      // A change in record 300 re-encodes its chunk (256..511) alone: the other two are the same buffers.
      if (step === steps[0]) expect(after.filter((b) => before.includes(b))).toHaveLength(2);
      s = next;
    }
  });
});

describe('Store updates through copy-on-write drafts', () => {
  it('an update of one record leaves the other records and collections as the same objects; db.json matches memory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gh-draft-'));
    try {
      const store = await Store.open({ dir });
      await store.update((d) => {
        for (let i = 0; i < 100; i++) d.sessions.push({ id: `ses_${i}` } as never);
      });
      const sessions = store.data.sessions;
      await store.update((d) => void (d.meta.touched = true));
      expect(store.data.sessions).toBe(sessions);
      await store.update((d) => void ((d.sessions.find((s) => s.id === 'ses_7') as { x?: number }).x = 1));
      expect(store.data.sessions).not.toBe(sessions);
      expect(store.data.sessions.filter((s, i) => s !== sessions[i]).map((s) => s.id)).toEqual(['ses_7']);
      // Two fns in one batch: the second sees the first's change, a failing third leaves no trace.
      const before = store.data.sessions;
      await Promise.all([
        store.update((d) => void d.users.push({ id: 'usr_1' } as never)),
        store.update((d) => void (d.meta.users = d.users.length)),
        store
          .update((d) => {
            d.sessions.length = 0;
            throw new Error('no');
          })
          .catch(() => undefined),
      ]);
      expect(store.data.meta).toMatchObject({ touched: true, users: 1 });
      expect(store.data.sessions).toBe(before);
      expect(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(store.data)));
      await store.close();
      const again = await Store.open({ dir });
      expect(again.data).toEqual(store.data);
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
