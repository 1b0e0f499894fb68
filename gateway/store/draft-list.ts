// The draft of one list of records (store/draft.ts): records copied when the fn reaches them, changes tracked by index.
import { sameJson } from './clone.js';
import { checkIds, findById } from './draft-ids.js';
import { Copies, freshElement, idOf, isFrozenObject, isIndex, isObject } from './draft-values.js';

/** What one finished draft changed in a list: the new records (frozen) and the committed records now gone. */
export interface ListChange {
  upserted: object[];
  deleted: object[];
}

/** The list draft behind each list proxy (for `retainWhere`). */
const listDrafts = new WeakMap<object, ListDraft>();

/**
 * Keeps only the elements `keep` accepts, in place; returns how many went. On a draft's list, `keep` sees the
 * records as they are (committed ones are not copied), so removing many records costs one pass.
 */
export function retainWhere<T>(list: T[], keep: (v: T) => boolean): number {
  const d = listDrafts.get(list);
  const arr = (d ? d.work : list) as T[];
  let j = 0;
  for (let i = 0; i < arr.length; i++) if (keep(arr[i]!)) arr[j++] = arr[i]!;
  const removed = arr.length - j;
  if (removed > 0) {
    d?.reshaped();
    arr.length = j;
  }
  return removed;
}

/**
 * The first record with this id, as `list.find((x) => x.id === id)` would give it, in O(1) on a draft's list
 * whose ids are unique (PostgreSQL's, through the id index); otherwise (lowdb, a reshaped list, a plain array)
 * by that search. A find over 100,000 records costs milliseconds whatever does it: memory, one record at a time.
 */
export function byId<T extends { id: string }>(list: readonly T[], id: string): T | undefined {
  const d = listDrafts.get(list);
  return d ? (d.byId(id) as T | undefined) : list.find((x) => x.id === id);
}

type Pred = (v: unknown, i: number, a: unknown[]) => unknown;

/**
 * The first (or last) slot `pred` accepts: a plain loop over the slots, as they are, costing what the same loop
 * over the committed array costs (Array.prototype.find on a frozen array is slower still). One function for
 * every list and draft, so V8 optimises it once rather than per draft's closure. At 100,000 records that is
 * still milliseconds, spent reading each record from memory: `byId` is the O(1) way.
 */
function searchSlots(t: readonly unknown[], a: unknown[], pred: Pred, thisArg: unknown, fromEnd: boolean): number {
  const n = t.length;
  if (thisArg === undefined) {
    if (fromEnd) {
      for (let i = n - 1; i >= 0; i--) if (pred(t[i], i, a)) return i;
    } else for (let i = 0; i < n; i++) if (pred(t[i], i, a)) return i;
  } else if (fromEnd) {
    for (let i = n - 1; i >= 0; i--) if (pred.call(thisArg, t[i], i, a)) return i;
  } else for (let i = 0; i < n; i++) if (pred.call(thisArg, t[i], i, a)) return i;
  return -1;
}

/**
 * A list of records. The proxy's target is a shallow copy of the committed list whose slots hold the committed
 * (frozen) records until the fn reaches one, which then becomes its copy. Predicates (find, some, filter, …)
 * see the slots as they are, so a search reads the committed records without copying them; a predicate must
 * not change what it is given (a committed record is frozen: that throws). Element writes and pushes are
 * tracked by index; any other reshaping (splice, sort, a shorter length, reassigning the list) marks the list
 * `structural`, and its commit then walks the list once comparing pointers (still copying only what changed).
 */
export class ListDraft {
  readonly proxy: unknown[];
  /** Indexes below base.length whose slot may differ from the base (copied or assigned). */
  private readonly dirty = new Set<number>();

  constructor(
    private readonly key: string,
    private readonly base: readonly unknown[],
    readonly work: unknown[],
    private readonly copies: Copies,
    private structural: boolean,
    /** Ids are unique in the base (PostgreSQL checks them on every commit): its id index answers `byId`. */
    private readonly uniqueIds = false,
  ) {
    this.proxy = new Proxy(work, this.handler());
    listDrafts.set(this.proxy, this);
  }

  reshaped(): void {
    this.structural = true;
  }

  /** Set once finished: the list may be committed (frozen); a late read gets what is there, read only. */
  private done = false;

  /** The slot's value handed to the fn: the copy of a committed record (which stays in the slot). */
  private at(i: number): unknown {
    const t = this.work;
    const v = t[i];
    if (this.done || !isFrozenObject(v)) return v;
    const c = this.copies.own(v);
    t[i] = c;
    if (i < this.base.length) this.dirty.add(i);
    return c;
  }

  /** See `byId`: the base's slot for the id, unless an earlier written, copied or appended slot now has it. */
  byId(id: string): unknown {
    const t = this.work;
    if (!this.uniqueIds || this.structural || this.done) {
      const i = searchSlots(t, this.proxy, (x) => idOf(x) === id, undefined, false);
      return i < 0 ? undefined : this.at(i);
    }
    // Only written or copied slots (`dirty`) and appended ones can differ from the base: a record's id changes
    // only through its copy.
    let first = findById(this.base, id);
    if (first >= 0 && idOf(t[first]) !== id) first = -1;
    for (const i of this.dirty) if ((first < 0 || i < first) && idOf(t[i]) === id) first = i;
    if (first < 0) for (let i = this.base.length; i < t.length && first < 0; i++) if (idOf(t[i]) === id) first = i;
    return first < 0 ? undefined : this.at(first);
  }

  private written(i: number): void {
    if (i < this.base.length) this.dirty.add(i);
    else if (i > this.work.length) this.structural = true; // a hole
  }

  private handler(): ProxyHandler<unknown[]> {
    const methods = this.methods();
    return {
      get: (t, p, receiver) => {
        if (isIndex(p)) return Number(p as string) < t.length ? this.at(Number(p as string)) : undefined;
        if (typeof p === 'string' && Object.hasOwn(methods, p)) return methods[p];
        return Reflect.get(t, p, receiver);
      },
      set: (t, p, v) => {
        if (isIndex(p)) this.written(Number(p as string));
        else if (p === 'length' && (typeof v !== 'number' || v < this.base.length || v > t.length))
          this.structural = true;
        return Reflect.set(t, p, v);
      },
      deleteProperty: (t, p) => {
        this.structural = true;
        return Reflect.deleteProperty(t, p);
      },
      defineProperty: (t, p, d) => {
        this.structural = true;
        return Reflect.defineProperty(t, p, d);
      },
      getOwnPropertyDescriptor: (t, p) => {
        if (isIndex(p) && Number(p as string) < t.length) this.at(Number(p as string));
        return Reflect.getOwnPropertyDescriptor(t, p);
      },
    };
  }

  private methods(): Record<string, unknown> {
    const t = this.work;
    const findIndex = (pred: Pred, thisArg?: unknown, fromEnd = false): number =>
      searchSlots(t, this.proxy, pred, thisArg, fromEnd);
    const reshape =
      (name: 'splice' | 'shift' | 'unshift' | 'pop' | 'sort' | 'reverse' | 'fill' | 'copyWithin') =>
      (...args: unknown[]): unknown => {
        this.structural = true;
        const out = (Array.prototype[name] as (...a: unknown[]) => unknown).apply(t, args);
        if (out === t) return this.proxy;
        // Removed records: the fn's own copies (changing one changes nothing stored).
        if (Array.isArray(out)) return out.map((v) => this.copies.own(v));
        return this.copies.own(out);
      };
    return {
      find: (pred: Pred, thisArg?: unknown) => {
        const i = findIndex(pred, thisArg);
        return i < 0 ? undefined : this.at(i);
      },
      findLast: (pred: Pred, thisArg?: unknown) => {
        const i = findIndex(pred, thisArg, true);
        return i < 0 ? undefined : this.at(i);
      },
      findIndex: (pred: Pred, thisArg?: unknown) => findIndex(pred, thisArg),
      findLastIndex: (pred: Pred, thisArg?: unknown) => findIndex(pred, thisArg, true),
      some: (pred: Pred, thisArg?: unknown) => findIndex(pred, thisArg) >= 0,
      every: (pred: Pred, thisArg?: unknown) => findIndex((v, i, a) => !pred.call(thisArg, v, i, a)) < 0,
      filter: (pred: Pred, thisArg?: unknown) => {
        const out: unknown[] = [];
        const a = this.proxy;
        for (let i = 0; i < t.length; i++) if (pred.call(thisArg, t[i], i, a)) out.push(this.at(i));
        return out;
      },
      includes: (v: unknown, from?: number) => t.includes(v, from),
      indexOf: (v: unknown, from?: number) => t.indexOf(v, from),
      lastIndexOf: (v: unknown, from?: number) => (from === undefined ? t.lastIndexOf(v) : t.lastIndexOf(v, from)),
      push: (...items: unknown[]) => t.push(...items),
      splice: reshape('splice'),
      shift: reshape('shift'),
      unshift: reshape('unshift'),
      pop: reshape('pop'),
      sort: reshape('sort'),
      reverse: reshape('reverse'),
      fill: reshape('fill'),
      copyWithin: reshape('copyWithin'),
    };
  }

  /** The committed list after the fn, and what changed; the base itself when nothing did. */
  finish(requireIds: boolean): { value: readonly unknown[]; change: ListChange | undefined } {
    this.done = true;
    const change = this.structural ? this.finishReshaped() : this.finishInPlace();
    if (!change) return { value: this.base, change: undefined };
    if (requireIds) checkIds(this.key, change.value, change.positions, this.structural ? undefined : this.base);
    // A record replaced by one with the same id is an update of that id, not a deletion.
    if (change.deleted.length > 0 && change.upserted.length > 0) {
      const kept = new Set(change.upserted.map(idOf));
      change.deleted = change.deleted.filter((b) => !kept.has(idOf(b)));
    }
    return { value: Object.freeze(change.value), change: { upserted: change.upserted, deleted: change.deleted } };
  }

  /** Only element writes and appends: look at the written slots and the appended tail, nothing else. */
  private finishInPlace(): Reshaped | undefined {
    const t = this.work;
    const base = this.base;
    const upserted: object[] = [];
    const positions: number[] = [];
    const deleted: object[] = [];
    for (const i of this.dirty) {
      const b = base[i];
      const v = t[i];
      if (v === b) continue;
      if (isObject(v) && sameJson(v, b)) {
        t[i] = b;
        continue;
      }
      const n = freshElement(v);
      t[i] = n;
      upserted.push(n as object);
      positions.push(i);
      if (isObject(b) && idOf(b) !== idOf(n)) deleted.push(b);
    }
    for (let i = base.length; i < t.length; i++) {
      t[i] = freshElement(t[i]);
      upserted.push(t[i] as object);
      positions.push(i);
    }
    if (upserted.length === 0) return undefined;
    return { value: t, upserted, positions, deleted };
  }

  /** Reshaped: one pointer walk; committed records still in the list are kept, copies compared to their origin. */
  private finishReshaped(): Reshaped | undefined {
    const t = this.work;
    const base = this.base;
    const inBase = new Set<unknown>(base);
    const seen = new Set<unknown>();
    const value = new Array<unknown>(t.length);
    const upserted: object[] = [];
    const positions: number[] = [];
    for (let i = 0; i < t.length; i++) {
      const v = t[i];
      if (inBase.has(v) && !seen.has(v)) {
        seen.add(v);
        value[i] = v;
        continue;
      }
      const o = isObject(v) ? this.copies.origins.get(v) : undefined;
      if (o !== undefined && inBase.has(o) && !seen.has(o) && sameJson(v, o)) {
        seen.add(o);
        value[i] = o;
        continue;
      }
      value[i] = freshElement(v);
      upserted.push(value[i] as object);
      positions.push(i);
    }
    const deleted: object[] = [];
    if (seen.size < base.length) for (const b of base) if (!seen.has(b) && isObject(b)) deleted.push(b);
    if (upserted.length === 0 && deleted.length === 0 && value.length === base.length) {
      // Same records; only their order may differ.
      let same = true;
      for (let i = 0; i < value.length && same; i++) same = value[i] === base[i];
      if (same) return undefined;
    }
    return { value, upserted, positions, deleted };
  }
}

interface Reshaped {
  value: unknown[];
  upserted: object[];
  positions: number[];
  deleted: object[];
}
