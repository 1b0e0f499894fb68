// The state as rows: load rows into a DbData, the rows an update changed (from its draft), apply rows other nodes wrote.
import type { DraftShape, Finished } from '../../store/draft.js';
import { COLLECTIONS, type DbData, emptyDb } from '../../store/schema.js';

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

/** Applies rows written elsewhere (in `pos` order) to a state; returns the new state and the keys it changed. */
export function applyRows(
  base: Readonly<DbData>,
  rows: readonly { collection: string; id: string; doc: unknown }[],
): { next: DbData; changed: Set<string> } {
  const next = { ...base } as Tree;
  const changed = new Set<string>();
  for (const r of rows) {
    if (r.collection === META) {
      if (!changed.has(META)) next.meta = { ...(next.meta as Tree) };
      const meta = next.meta as Tree;
      if (r.doc === null || r.doc === undefined) delete meta[r.id];
      else meta[r.id] = (r.doc as { value: unknown }).value;
      changed.add(META);
    } else if (isCollection(r.collection)) {
      if (!changed.has(r.collection)) next[r.collection] = [...(next[r.collection] as Rec[])];
      const list = next[r.collection] as Rec[];
      const i = list.findIndex((x) => x.id === r.id);
      if (r.doc === null || r.doc === undefined) {
        if (i >= 0) list.splice(i, 1);
      } else if (i >= 0) list[i] = r.doc as Rec;
      else list.push(r.doc as Rec);
      changed.add(r.collection);
    }
  }
  return { next: next as unknown as DbData, changed };
}
