// Where each id sits in a committed list, for PostgreSQL's "one row per id": built once per list, shared with the
// lists derived from it by appends and in-place replacements, verified on use.
import { idOf } from './draft-values.js';

/**
 * Per committed list, where each id sits; shared by the lists derived from it by appends and in-place
 * replacements, so an entry may be stale and is verified on use (`findById`); every record has an entry.
 */
const idIndexes = new WeakMap<readonly unknown[], Map<string, number>>();

/** The index of the record with this id, through the list's id index (built once, then shared). */
export function findById(list: readonly unknown[], id: string): number {
  const at = idIndexOf(list).get(id);
  return at !== undefined && at < list.length && idOf(list[at]) === id ? at : -1;
}

/** `next` was made from `list` by appends and in-place replacements (with `added` ids at their indexes). */
export function shareIdIndex(
  list: readonly unknown[],
  next: readonly unknown[],
  added: Iterable<[string, number]>,
): void {
  const index = idIndexOf(list);
  for (const [id, i] of added) index.set(id, i);
  idIndexes.set(next, index);
}

export function idIndexOf(list: readonly unknown[]): Map<string, number> {
  let m = idIndexes.get(list);
  if (!m) {
    m = new Map();
    // for…of: a shared list (shared-list.ts) iterates its chunks, where each `list[i]` would be a trap.
    let i = 0;
    for (const v of list) {
      const id = idOf(v);
      if (typeof id === 'string') m.set(id, i);
      i++;
    }
    idIndexes.set(list, m);
  }
  return m;
}

/**
 * Every changed record has a string id found nowhere else in the list. With `base` (only appends and element
 * writes) the base's id index answers that without a scan, and the next list shares it; otherwise one scan.
 */
export function checkIds(key: string, list: readonly unknown[], positions: number[], base?: readonly unknown[]): void {
  for (let k = 0; k < positions.length; k++)
    if (typeof idOf(list[positions[k]!]) !== 'string') throw new TypeError(`${key}[${positions[k]}] has no string id`);
  if (!base) {
    const seen = new Set<unknown>();
    for (const r of list) {
      const id = idOf(r);
      if (seen.has(id)) throw new TypeError(`${key} holds id ${String(id)} twice`);
      seen.add(id);
    }
    return;
  }
  const index = idIndexOf(base);
  const mine = new Set<string>();
  for (const i of positions) {
    const id = idOf(list[i]) as string;
    const at = index.get(id);
    if (mine.has(id) || (at !== undefined && at !== i && at < list.length && idOf(list[at]) === id))
      throw new TypeError(`${key} holds id ${id} twice`);
    mine.add(id);
  }
  for (const i of positions) index.set(idOf(list[i]) as string, i);
  idIndexes.set(list, index);
}
