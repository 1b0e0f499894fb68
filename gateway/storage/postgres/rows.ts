// The state as rows: load rows into a DbData, find the rows an update changed, apply rows other nodes wrote.
import { jsonClone } from '../../store/clone.js';
import { COLLECTIONS, CURRENT_SCHEMA_VERSION, type DbData, emptyDb } from '../../store/schema.js';

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

/** The rows to write so that `base` becomes `draft` for the touched keys; throws on a state no row can hold. */
export function changedRows(
  base: Readonly<DbData>,
  draft: DbData,
  touched: ReadonlySet<string>,
): { rows: Row[]; next: DbData } {
  const rows: Row[] = [];
  const next = { ...base } as Tree;
  for (const key of touched) {
    if (key === 'schemaVersion') {
      if (draft.schemaVersion !== CURRENT_SCHEMA_VERSION) throw new Error('schemaVersion is not changed by an update');
    } else if (key === META) next.meta = diffMeta(base.meta, draft.meta, rows);
    else if (isCollection(key))
      next[key] = diffCollection(key, base[key] as readonly Rec[], draft[key] as unknown, rows);
    else throw new Error(`unknown state key "${key}"`);
  }
  for (const key of Object.keys(draft)) if (!(key in base)) throw new Error(`unknown state key "${key}"`);
  return { rows, next: next as unknown as DbData };
}

function diffCollection(key: Collection, before: readonly Rec[], after: unknown, rows: Row[]): Rec[] {
  if (!Array.isArray(after)) throw new TypeError(`"${key}" must stay a list`);
  const old = new Map(before.map((r) => [r.id, r]));
  const seen = new Set<string>();
  const out: Rec[] = new Array(after.length);
  for (let i = 0; i < after.length; i++) {
    const rec = jsonClone(after[i]) as Rec;
    if (rec === null || typeof rec !== 'object' || typeof rec.id !== 'string')
      throw new TypeError(`${key}[${i}] has no string id`);
    if (seen.has(rec.id)) throw new TypeError(`${key} holds id ${rec.id} twice`);
    seen.add(rec.id);
    const prev = old.get(rec.id);
    if (prev && sameJson(prev, rec)) out[i] = prev;
    else {
      out[i] = rec;
      rows.push({ collection: key, id: rec.id, doc: JSON.stringify(rec) });
    }
  }
  for (const id of old.keys()) if (!seen.has(id)) rows.push({ collection: key, id, doc: undefined });
  return out;
}

function diffMeta(before: Readonly<Tree>, after: unknown, rows: Row[]): Tree {
  if (after === null || typeof after !== 'object' || Array.isArray(after))
    throw new TypeError('"meta" must stay an object');
  const out: Tree = {};
  for (const [k, v] of Object.entries(jsonClone(after) as Tree)) {
    if (Object.hasOwn(before, k) && sameJson(before[k], v)) out[k] = before[k];
    else {
      out[k] = v;
      rows.push({ collection: META, id: k, doc: JSON.stringify({ key: k, value: v }) });
    }
  }
  for (const k of Object.keys(before))
    if (!Object.hasOwn(out, k)) rows.push({ collection: META, id: k, doc: undefined });
  return out;
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

/** Deep equality of two JSON values (both already JSON-shaped): cheaper than comparing their texts. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    // Same keys in the same order: the row's text is what is compared in the end.
    if (ka[i] !== kb[i] || !sameJson((a as Tree)[ka[i]!], (b as Tree)[kb[i]!])) return false;
  }
  return true;
}
