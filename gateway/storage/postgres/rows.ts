// The state as rows: load rows into a DbData, the rows an update changed (from its draft), apply rows other nodes wrote.
import {
  COLLECTIONS,
  type DbData,
  deepFreeze,
  type DraftShape,
  emptyDb,
  findById,
  type Finished,
  isSharedList,
  shareIdIndex,
  sharedList,
  sharedWith,
} from '../../store.js';

export type Collection = (typeof COLLECTIONS)[number];
/** `meta` keys are rows of this collection. */
export const META = 'meta';

export interface Row {
  collection: string;
  id: string;
  /** JSON text; undefined = deleted. */
  doc: string | undefined;
}

type Rec = { id: string };
type Tree = Record<string, unknown>;
const isCollection = (k: string): k is Collection => (COLLECTIONS as readonly string[]).includes(k);

/** Builds a state from live rows in `pos` order. */
export function stateFromRows(rows: Iterable<{ collection: string; doc: unknown }>): DbData {
  const db = emptyDb();
  for (const r of rows) {
    if (r.collection === META) {
      const { key, value } = r.doc as { key: string; value: unknown };
      db.meta[key] = value;
    } else if (isCollection(r.collection)) (db[r.collection] as unknown[]).push(r.doc);
  }
  return db;
}

/** The shape PostgreSQL's rows can hold: records with unique string ids, `meta` keys, a fixed schemaVersion. */
export const PG_SHAPE: DraftShape = {
  lists: COLLECTIONS,
  maps: [META],
  fixed: ['schemaVersion'],
  extraKeys: false,
  requireIds: true,
};

/** The rows a finished draft changed: its upserted and deleted records, its set and deleted meta keys. */
export function rowsOf(done: Finished<DbData>): Row[] {
  const rows: Row[] = [];
  for (const [collection, c] of done.lists) {
    for (const rec of c.upserted) rows.push({ collection, id: (rec as Rec).id, doc: JSON.stringify(rec) });
    for (const rec of c.deleted) rows.push({ collection, id: (rec as Rec).id, doc: undefined });
  }
  const meta = done.maps.get(META);
  if (meta) {
    for (const [key, value] of meta.set) rows.push({ collection: META, id: key, doc: JSON.stringify({ key, value }) });
    for (const key of meta.deleted) rows.push({ collection: META, id: key, doc: undefined });
  }
  return rows;
}

/** The state as the cache holds it: deeply frozen, each collection a shared list (store/shared-list.ts). */
export function cachedState(db: DbData): Readonly<DbData> {
  const out = { ...deepFreeze(db) } as unknown as Tree;
  for (const key of COLLECTIONS) out[key] = sharedList(db[key] as readonly unknown[]);
  return Object.freeze(out) as unknown as Readonly<DbData>;
}

/** One collection's rows from elsewhere: replaced slots and appends over `before`, or (after a deletion) a flat list. */
interface Pending {
  before: readonly Rec[];
  over: Map<number, Rec>;
  tail: Rec[];
  /** Where each appended id sits in `tail`. */
  tailAt: Map<string, number>;
  flat?: Rec[];
}

function flatten(c: Pending): Rec[] {
  const flat = [...c.before];
  for (const [i, v] of c.over) flat[i] = v;
  for (const v of c.tail) flat.push(v);
  return flat;
}

/**
 * Applies rows written elsewhere (in `pos` order) to a state; returns the new state and the keys it changed. A
 * collection changed only by replacements and appends shares its unchanged chunks and its id index with the
 * base; a deletion shifts the records after it, so that collection is rebuilt (its id index then on first use).
 */
export function applyRows(
  base: Readonly<DbData>,
  rows: readonly { collection: string; id: string; doc: unknown }[],
): { next: DbData; changed: Set<string> } {
  const next = { ...base } as Tree;
  const changed = new Set<string>();
  const lists = new Map<string, Pending>();
  for (const r of rows) {
    if (r.collection === META) {
      if (!changed.has(META)) next.meta = { ...(next.meta as Tree) };
      const meta = next.meta as Tree;
      if (r.doc === null || r.doc === undefined) delete meta[r.id];
      else meta[r.id] = (r.doc as { value: unknown }).value;
      changed.add(META);
    } else if (isCollection(r.collection)) {
      let c = lists.get(r.collection);
      if (!c) {
        const b = base[r.collection] as readonly Rec[];
        c = { before: isSharedList(b) ? b : sharedList(b), over: new Map(), tail: [], tailAt: new Map() };
        lists.set(r.collection, c);
      }
      const doc = r.doc === null || r.doc === undefined ? undefined : deepFreeze(r.doc as Rec);
      if (!c.flat) {
        const i = findById(c.before, r.id);
        const t = c.tailAt.get(r.id);
        if (doc === undefined) {
          if (i >= 0 || t !== undefined) c.flat = flatten(c);
        } else if (i >= 0) c.over.set(i, doc);
        else if (t !== undefined) c.tail[t] = doc;
        else {
          c.tailAt.set(r.id, c.tail.length);
          c.tail.push(doc);
        }
      }
      if (c.flat) {
        const i = c.flat.findIndex((x) => x.id === r.id);
        if (doc === undefined) {
          if (i >= 0) c.flat.splice(i, 1);
        } else if (i >= 0) c.flat[i] = doc;
        else c.flat.push(doc);
      }
      changed.add(r.collection);
    }
  }
  for (const [key, c] of lists) {
    if (c.flat) next[key] = sharedList(c.flat);
    else {
      const list = sharedWith(c.before, c.over, c.tail);
      const n0 = c.before.length;
      shareIdIndex(
        c.before,
        list,
        [...c.tailAt].map(([id, k]): [string, number] => [id, n0 + k]),
      );
      next[key] = list;
    }
  }
  return { next: next as unknown as DbData, changed };
}
