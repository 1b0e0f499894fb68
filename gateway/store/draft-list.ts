// The draft of one list of records (store/draft.ts): records copied when the fn reaches them, changes tracked by index.
import { sameJson } from './clone.js';
import { checkIds, findById } from './draft-ids.js';
import { Copies, freshElement, idOf, isFrozenObject, isIndex, isObject } from './draft-values.js';
import { isSharedList, type SharedChunks, searchChunks, sharedChunks, sharedList, sharedWith } from './shared-list.js';

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
  const arr = (d ? d.flat() : list) as T[];
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

/** The slots of a draft over a shared list before it needed an array of its own (see `ListDraft.lazy`). */
interface Lazy {
  chunks: SharedChunks;
  /** Slots below the base's length written or copied by the fn. */
  over: Map<number, unknown>;
  /** Slots appended by the fn. */
  tail: unknown[];
}

function lazySlot(l: Lazy, i: number): unknown {
  const n0 = l.chunks.length;
  if (i >= n0) return l.tail[i - n0];
  return l.over.size > 0 && l.over.has(i) ? l.over.get(i) : l.chunks.at(i);
}

/**
 * `searchSlots` over a lazy draft's slots: the base's chunks, then the appended ones (from the end: the other way
 * round). Where the fn wrote or copied slots of the base, a slot-by-slot loop reads them over the chunks;
 * otherwise the chunks' own loop, at a plain array's speed.
 */
function searchLazy(l: Lazy, a: unknown[], pred: Pred, thisArg: unknown, fromEnd: boolean): number {
  const n0 = l.chunks.length;
  const tail = l.tail;
  const inTail = (): number => {
    if (fromEnd) {
      for (let k = tail.length - 1; k >= 0; k--) if (pred.call(thisArg, tail[k], n0 + k, a)) return n0 + k;
    } else for (let k = 0; k < tail.length; k++) if (pred.call(thisArg, tail[k], n0 + k, a)) return n0 + k;
    return -1;
  };
  const inBase = (): number => {
    if (l.over.size === 0) return searchChunks(l.chunks, a, pred, thisArg, fromEnd);
    if (fromEnd) {
      for (let i = n0 - 1; i >= 0; i--) if (pred.call(thisArg, lazySlot(l, i), i, a)) return i;
    } else for (let i = 0; i < n0; i++) if (pred.call(thisArg, lazySlot(l, i), i, a)) return i;
    return -1;
  };
  if (fromEnd) {
    const i = inTail();
    return i >= 0 ? i : inBase();
  }
  const i = inBase();
  return i >= 0 ? i : inTail();
}

/**
 * A list of records. The proxy's target is a shallow copy of the committed list whose slots hold the committed
 * (frozen) records until the fn reaches one, which then becomes its copy. Over a shared list (shared-list.ts) the
 * draft starts `lazy`: no copy, the fn's slots kept beside the base's chunks, so reading, writing, pushing and
 * searching cost what they touch; anything else (splice, sort, a shorter length, `retainWhere`, …) first fills
 * the target with every slot (`flat`) and goes on as over an array. Predicates (find, some, filter, …)
 * see the slots as they are, so a search reads the committed records without copying them; a predicate must
 * not change what it is given (a committed record is frozen: that throws). Element writes and pushes are
 * tracked by index; any other reshaping (splice, sort, a shorter length, reassigning the list) marks the list
 * `structural`, and its commit then walks the list once comparing pointers (still copying only what changed).
 */
export class ListDraft {
  readonly proxy: unknown[];
  /** Indexes below base.length whose slot may differ from the base (copied or assigned). */
  private readonly dirty = new Set<number>();
  /** The base is a shared list: so is the committed list. */
  private readonly shared: boolean;
  private readonly n0: number;
  /** While set, `work` is empty and the slots are these (see the class comment). */
  private lazy: Lazy | undefined;

  constructor(
    private readonly key: string,
    private readonly base: readonly unknown[],
    private readonly work: unknown[],
    private readonly copies: Copies,
    private structural: boolean,
    /** Ids are unique in the base (PostgreSQL checks them on every commit): its id index answers `byId`. */
    private readonly uniqueIds = false,
    /** The base is shared and `work` is an empty array: start lazy. */
    lazy = false,
  ) {
    this.n0 = base.length;
    const chunks = sharedChunks(base);
    this.shared = chunks !== undefined;
    if (lazy && chunks) this.lazy = { chunks, over: new Map(), tail: [] };
    this.proxy = new Proxy(work, this.handler());
    listDrafts.set(this.proxy, this);
  }

  /** The work array with every slot in it (leaving lazy mode once). */
  flat(): unknown[] {
    const l = this.lazy;
    if (!l) return this.work;
    const t = this.work;
    for (const ch of l.chunks.dir) for (let j = 0; j < ch.length; j++) t.push(ch[j]);
    for (const [i, v] of l.over) {
      t[i] = v;
      this.dirty.add(i);
    }
    for (const v of l.tail) t.push(v);
    this.lazy = undefined;
    return t;
  }

  private get length(): number {
    return this.lazy ? this.n0 + this.lazy.tail.length : this.work.length;
  }

  private slot(i: number): unknown {
    return this.lazy ? lazySlot(this.lazy, i) : this.work[i];
  }

  private put(i: number, v: unknown): void {
    const l = this.lazy;
    if (!l) {
      this.work[i] = v;
      if (i < this.n0) this.dirty.add(i);
    } else if (i < this.n0) l.over.set(i, v);
    else l.tail[i - this.n0] = v;
  }

  private search(pred: Pred, thisArg: unknown, fromEnd: boolean): number {
    return this.lazy
      ? searchLazy(this.lazy, this.proxy, pred, thisArg, fromEnd)
      : searchSlots(this.work, this.proxy, pred, thisArg, fromEnd);
  }

  reshaped(): void {
    this.structural = true;
  }

  /** Set once finished: the list may be committed (frozen); a late read gets what is there, read only. */
  private done = false;

  /** The slot's value handed to the fn: the copy of a committed record (which stays in the slot). */
  private at(i: number): unknown {
    const v = this.slot(i);
    if (this.done || !isFrozenObject(v)) return v;
    const c = this.copies.own(v);
    this.put(i, c);
    return c;
  }

  /** See `byId`: the base's slot for the id, unless an earlier written, copied or appended slot now has it. */
  byId(id: string): unknown {
    if (!this.uniqueIds || this.structural || this.done) {
      const i = this.search((x) => idOf(x) === id, undefined, false);
      return i < 0 ? undefined : this.at(i);
    }
    // Only written or copied slots (`dirty`) and appended ones can differ from the base: a record's id changes
    // only through its copy.
    let first = findById(this.base, id);
    if (first >= 0 && idOf(this.slot(first)) !== id) first = -1;
    for (const i of this.lazy ? this.lazy.over.keys() : this.dirty)
      if ((first < 0 || i < first) && idOf(this.slot(i)) === id) first = i;
    const n = this.length;
    if (first < 0) for (let i = this.n0; i < n && first < 0; i++) if (idOf(this.slot(i)) === id) first = i;
    return first < 0 ? undefined : this.at(first);
  }

  private written(i: number): void {
    if (i < this.n0) this.dirty.add(i);
    else if (i > this.work.length) this.structural = true; // a hole
  }

  /** A late write through a draft whose commit was shared (not frozen in place as an array's is) is refused too. */
  private refuseLate(): void {
    if (this.done && this.shared) throw new TypeError(`the update has ended: "${this.key}" is read only`);
  }

  private handler(): ProxyHandler<unknown[]> {
    const methods = this.methods();
    // Lazy, the target is empty: length, indexes and `in` are answered from the slots; the other traps fill it first.
    return {
      get: (t, p, receiver) => {
        if (isIndex(p)) return Number(p as string) < this.length ? this.at(Number(p as string)) : undefined;
        if (p === 'length') return this.length;
        if (typeof p === 'string' && Object.hasOwn(methods, p)) return methods[p];
        return Reflect.get(t, p, receiver);
      },
      set: (t, p, v) => {
        this.refuseLate();
        if (this.lazy && isIndex(p) && Number(p as string) <= this.length) {
          this.put(Number(p as string), v);
          return true;
        }
        if (this.lazy && p === 'length' && v === this.length) return true;
        this.flat();
        if (isIndex(p)) this.written(Number(p as string));
        else if (p === 'length' && (typeof v !== 'number' || v < this.n0 || v > t.length)) this.structural = true;
        return Reflect.set(t, p, v);
      },
      has: (t, p) => (this.lazy && isIndex(p) ? Number(p as string) < this.length : Reflect.has(t, p)),
      ownKeys: (t) => {
        this.flat();
        return Reflect.ownKeys(t);
      },
      deleteProperty: (t, p) => {
        this.refuseLate();
        this.flat();
        this.structural = true;
        return Reflect.deleteProperty(t, p);
      },
      defineProperty: (t, p, d) => {
        this.refuseLate();
        this.flat();
        this.structural = true;
        return Reflect.defineProperty(t, p, d);
      },
      getOwnPropertyDescriptor: (t, p) => {
        this.flat();
        if (isIndex(p) && Number(p as string) < t.length) this.at(Number(p as string));
        return Reflect.getOwnPropertyDescriptor(t, p);
      },
    };
  }

  private methods(): Record<string, unknown> {
    const t = this.work;
    const findIndex = (pred: Pred, thisArg?: unknown, fromEnd = false): number => this.search(pred, thisArg, fromEnd);
    const reshape =
      (name: 'splice' | 'shift' | 'unshift' | 'pop' | 'sort' | 'reverse' | 'fill' | 'copyWithin') =>
      (...args: unknown[]): unknown => {
        this.refuseLate();
        this.flat();
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
        this.search((v, i) => void (pred.call(thisArg, v, i, a) && out.push(this.at(i))), undefined, false);
        return out;
      },
      includes: (v: unknown, from?: number) => this.flat().includes(v, from),
      indexOf: (v: unknown, from?: number) => this.flat().indexOf(v, from),
      lastIndexOf: (v: unknown, from?: number) =>
        from === undefined ? this.flat().lastIndexOf(v) : this.flat().lastIndexOf(v, from),
      push: (...items: unknown[]) => {
        this.refuseLate();
        if (!this.lazy) return t.push(...items);
        this.lazy.tail.push(...items);
        return this.length;
      },
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
    const change = this.lazy ? this.finishLazy() : this.structural ? this.finishReshaped() : this.finishInPlace();
    if (!change) return { value: this.base, change: undefined };
    const value = isSharedList(change.value)
      ? change.value
      : this.shared
        ? sharedList(change.value)
        : Object.freeze(change.value);
    if (requireIds) checkIds(this.key, value, change.positions, this.structural ? undefined : this.base);
    // A record replaced by one with the same id is an update of that id, not a deletion.
    if (change.deleted.length > 0 && change.upserted.length > 0) {
      const kept = new Set(change.upserted.map(idOf));
      change.deleted = change.deleted.filter((b) => !kept.has(idOf(b)));
    }
    return { value, change: { upserted: change.upserted, deleted: change.deleted } };
  }

  /**
   * Lazy: only the fn's slots are looked at, and the next list shares every chunk of the base they are not in.
   * The fn's slots end as the committed values (a late read through the draft gives what was committed).
   */
  private finishLazy(): Reshaped | undefined {
    const { chunks, over, tail } = this.lazy!;
    const replaced = new Map<number, unknown>();
    const upserted: object[] = [];
    const positions: number[] = [];
    const deleted: object[] = [];
    for (const [i, v] of over) {
      const b = chunks.at(i);
      if (v === b || (isObject(v) && sameJson(v, b))) {
        over.set(i, b);
        continue;
      }
      const n = freshElement(v);
      over.set(i, n);
      replaced.set(i, n);
      upserted.push(n as object);
      positions.push(i);
      if (isObject(b) && idOf(b) !== idOf(n)) deleted.push(b);
    }
    for (let k = 0; k < tail.length; k++) {
      tail[k] = freshElement(tail[k]);
      upserted.push(tail[k] as object);
      positions.push(this.n0 + k);
    }
    if (upserted.length === 0) return undefined;
    return { value: sharedWith(this.base, replaced, tail), upserted, positions, deleted };
  }

  /** Only element writes and appends: look at the written slots and the appended tail, nothing else. */
  private finishInPlace(): Reshaped | undefined {
    const t = this.work;
    const base = this.base;
    const n0 = this.n0;
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
    for (let i = n0; i < t.length; i++) {
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
  value: readonly unknown[];
  upserted: object[];
  positions: number[];
  deleted: object[];
}
