// The state as rows: load rows into a DbData, the rows an update changed (from its draft), apply rows other nodes wrote.
import {
  COLLECTIONS,
  type DbData,
  type DraftShape,
  emptyDb,
  findById as findInIndex,
  type Finished,
  shareIdIndex,
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

/** The index of `id` in `list` (grown from `before` by appends and replacements), through before's id index. */
function findById(list: readonly Rec[], id: string, before: readonly Rec[]): number {
  const at = findInIndex(before, id);
  if (at >= 0) return list[at]?.id === id ? at : list.findIndex((x) => x.id === id);
  for (let i = before.length; i < list.length; i++) if (list[i]!.id === id) return i;
  return -1;
}

/** Applies rows written elsewhere (in `pos` order) to a state; returns the new state and the keys it changed. */
export function applyRows(
  base: Readonly<DbData>,
  rows: readonly { collection: string; id: string; doc: unknown }[],
): { next: DbData; changed: Set<string> } {
  const next = { ...base } as Tree;
  const changed = new Set<string>();
  const lists = new Map<
    string,
    { before: readonly Rec[]; list: Rec[]; added: Array<[string, number]>; reshaped: boolean }
  >();
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
        const before = base[r.collection] as readonly Rec[];
        c = { before, list: [...before], added: [], reshaped: false };
        lists.set(r.collection, c);
        next[r.collection] = c.list;
      }
      // Through the id index while the list only grows or changes in place; a deletion shifts it: a scan after.
      const i = c.reshaped ? c.list.findIndex((x) => x.id === r.id) : findById(c.list, r.id, c.before);
      if (r.doc === null || r.doc === undefined) {
        if (i >= 0) {
          c.list.splice(i, 1);
          c.reshaped = true;
        }
      } else if (i >= 0) c.list[i] = r.doc as Rec;
      else {
        c.list.push(r.doc as Rec);
        c.added.push([r.id, c.list.length - 1]);
      }
      changed.add(r.collection);
    }
  }
  for (const c of lists.values()) if (!c.reshaped) shareIdIndex(c.before, c.list, c.added);
  return { next: next as unknown as DbData, changed };
}
