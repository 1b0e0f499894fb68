// The store's per-collection update path: an fn clones only what it touches, what it only read stays the same
// frozen object, and db.json's text is exactly JSON.stringify of the state.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../gateway/store/clone.js';
import { freezeChanged, lazyDraft, settle, StateTexts } from '../../gateway/store/draft.js';
import { Store } from '../../gateway/store.js';

type State = Record<string, unknown>;
const base = (): State =>
  deepFreeze({ schemaVersion: 1, users: [{ id: 'u1', name: 'A' }], sessions: [{ id: 's1', at: 1 }], meta: { n: 1 } });

function run(state: State, fn: (d: State) => void) {
  const touched = new Set<string>();
  const draft = lazyDraft(state, touched);
  fn(draft);
  const texts = new StateTexts();
  return { touched, ...settle(state, draft, touched, (k) => texts.of(state, k)) };
}

describe('lazy drafts', () => {
  it('clones a collection only when touched; untouched ones stay the same object', () => {
    const s = base();
    const r = run(s, (d) => void (d.sessions as unknown[]).push({ id: 's2', at: 2 }));
    expect([...r.touched]).toEqual(['sessions']);
    expect([...r.changed.keys()]).toEqual(['sessions']);
    expect(r.state.users).toBe(s.users);
    expect(r.state.meta).toBe(s.meta);
    expect(r.state.sessions).not.toBe(s.sessions);
    expect(r.state.sessions).toEqual([
      { id: 's1', at: 1 },
      { id: 's2', at: 2 },
    ]);
    // The base is untouched (it is frozen; the fn worked on a copy).
    expect(s.sessions).toEqual([{ id: 's1', at: 1 }]);
  });

  it('a collection only read keeps its frozen object and is not written again', () => {
    const s = base();
    const r = run(s, (d) => {
      const u = (d.users as Array<{ id: string }>).find((x) => x.id === 'u1');
      (d.meta as { last?: string }).last = u?.id;
    });
    expect(r.touched).toEqual(new Set(['users', 'meta']));
    expect([...r.changed.keys()]).toEqual(['meta']);
    expect(r.state.users).toBe(s.users);
  });

  it('adds, replaces and deletes top-level keys; undefined vanishes as in JSON', () => {
    const s = base();
    const r = run(s, (d) => {
      d.extra = { a: 1 };
      d.sessions = [];
      delete d.users;
      (d.meta as { gone?: unknown }).gone = undefined;
    });
    expect(Object.keys(r.state).sort()).toEqual(['extra', 'meta', 'schemaVersion', 'sessions']);
    expect(r.changed.get('users')).toBeUndefined();
    expect(r.changed.has('users')).toBe(true);
    expect(r.state.sessions).toEqual([]);
    expect(r.state.meta).toEqual({ n: 1 });
  });

  it('a value that is not plain JSON fails the fn (cycle, BigInt); a Date is kept as its JSON string', () => {
    expect(() => run(base(), (d) => ((d.meta as { self?: unknown }).self = d.meta))).toThrow(/circular/i);
    expect(() => run(base(), (d) => ((d.meta as { big?: unknown }).big = 1n))).toThrow(/BigInt/);
    const r = run(base(), (d) => ((d.meta as { when?: unknown }).when = new Date(0)));
    expect((r.state.meta as { when: unknown }).when).toBe('1970-01-01T00:00:00.000Z');
  });

  it('assembles exactly JSON.stringify(state) from cached and changed texts, and freezes what changed', () => {
    const s = base();
    const texts = new StateTexts();
    const touched = new Set<string>();
    const draft = lazyDraft(s, touched);
    (draft.sessions as unknown[]).push({ id: 's2', at: 2 });
    const r = settle(s, draft, touched, (k) => texts.of(s, k));
    expect(texts.file(r.state, s, r.changed)).toBe(`${JSON.stringify(r.state)}\n`);
    const frozen = freezeChanged(r.state, r.changed.keys());
    expect(Object.isFrozen(frozen)).toBe(true);
    expect(Object.isFrozen((frozen.sessions as object[])[1])).toBe(true);
    texts.commit(r.changed);
    expect(texts.file(frozen, frozen, new Map())).toBe(`${JSON.stringify(frozen)}\n`);
  });
});

describe('Store updates through lazy drafts', () => {
  it('an update of one collection leaves the others as the same objects; db.json matches memory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gh-draft-'));
    try {
      const store = await Store.open({ dir });
      await store.update((d) => {
        for (let i = 0; i < 100; i++) d.sessions.push({ id: `ses_${i}` } as never);
      });
      const sessions = store.data.sessions;
      await store.update((d) => void (d.meta.touched = true));
      expect(store.data.sessions).toBe(sessions);
      // Two fns in one batch: the second sees the first's change, a failing third leaves no trace.
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
      expect(store.data.sessions).toBe(sessions);
      expect(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(store.data)));
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
