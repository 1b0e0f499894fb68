// Copy-on-write drafts of the state, per record. An update fn gets a draft whose records are copied only when
// the fn reaches one (by index, find, filter, iteration), so the commit knows which records may have changed
// and compares and copies those alone; every other record, and every collection the fn did not change, stays
// the same frozen object in the next state. Why: the state keeps years of sessions and requests, and copying,
// comparing and freezing whole collections on every update held the event loop (and with it every relay) for
// hundreds of milliseconds at that size. Both storage engines use this; PostgreSQL writes the changed records
// as rows, lowdb re-serialises only their text (store/file-text.ts).
import { deepFreeze, jsonClone, sameJson } from './clone.js';

type Tree = Record<string, unknown>;

/** How the top level of the state is made: which keys hold lists of records, which hold key/value maps. */
export interface DraftShape {
  /** Keys whose value is a list of records (`{ id: string, … }`). */
  lists: readonly string[];
  /** Keys whose value is an object of independent values (`meta`). */
  maps: readonly string[];
  /** Keys an update may not change (`schemaVersion`). */
  fixed: readonly string[];
  /** Whether other top-level keys may be added (lowdb: yes, they are JSON; PostgreSQL: no row holds them). */
  extraKeys: boolean;
  /** Every changed record must carry a string id, unique in its list (PostgreSQL's rows are keyed by it). */
  requireIds: boolean;
}

/** What one finished draft changed in a list: the new records (frozen) and the committed records now gone. */
export interface ListChange {
  upserted: object[];
  deleted: object[];
}

/** What one finished draft changed in a map: the keys set (with their new frozen values) and the keys deleted. */
export interface MapChange {
  set: Map<string, unknown>;
  deleted: string[];
}

export interface Finished<T> {
  /** The next state, deeply frozen, sharing every unchanged value with the base. */
  state: T;
  /** Top-level keys whose value is a different object (or was added or deleted). */
  changed: Set<string>;
  lists: Map<string, ListChange>;
  maps: Map<string, MapChange>;
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;
const isFrozenObject = (v: unknown): v is object => isObject(v) && Object.isFrozen(v);
const isIndex = (p: string | symbol): boolean =>
  typeof p === 'string' && p.length > 0 && p.length < 16 && /^(0|[1-9]\d*)$/.test(p);

/**
 * The JSON text of each value `fresh` made: db.json's text reuses it (store/file-text.ts), so a changed record is
 * stringified once per commit.
 */
export const freshTexts = new WeakMap<object, string>();

/**
 * A value as it will be stored: a JSON round trip (Dates become strings, undefined vanishes; a cycle or a BigInt
 * throws, as the fn's own failure), frozen. Only changed values come here, so its cost is what the fn changed.
 */
function fresh(v: unknown): unknown {
  const text = JSON.stringify(v) as string | undefined;
  if (text === undefined) return undefined;
  const out = deepFreeze(JSON.parse(text) as unknown);
  if (isObject(out)) freshTexts.set(out, text);
  return out;
}

/** A list element as it will be stored: what JSON makes of an array slot (undefined becomes null). */
const freshElement = (v: unknown): unknown => fresh(v) ?? null;

const idOf = (v: unknown): unknown => (isObject(v) ? (v as { id?: unknown }).id : undefined);

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
    for (let i = 0; i < list.length; i++) {
      const id = idOf(list[i]);
      if (typeof id === 'string') m.set(id, i);
    }
    idIndexes.set(list, m);
  }
  return m;
}

/** The shared copies of one draft: a committed object reached twice is the same copy both times. */
class Copies {
  private readonly copies = new Map<object, object>();
  readonly origins = new WeakMap<object, object>();

  /** The mutable copy of a committed (frozen) value; anything else is the fn's own and is returned as it is. */
  own(v: unknown): unknown {
    if (!isFrozenObject(v)) return v;
    let c = this.copies.get(v);
    if (!c) {
      c = jsonClone(v) as object;
      this.copies.set(v, c);
      this.origins.set(c, v);
    }
    return c;
  }
}

/**
 * A list of records. The proxy's target is a shallow copy of the committed list whose slots hold the committed
 * (frozen) records until the fn reaches one, which then becomes its copy. Predicates (find, some, filter, …)
 * see the slots as they are, so a search reads the committed records without copying them; a predicate must
 * not change what it is given (a committed record is frozen: that throws). Element writes and pushes are
 * tracked by index; any other reshaping (splice, sort, a shorter length, reassigning the list) marks the list
 * `structural`, and its commit then walks the list once comparing pointers (still copying only what changed).
 */
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

class ListDraft {
  readonly proxy: unknown[];
  /** Indexes below base.length whose slot may differ from the base (copied or assigned). */
  private readonly dirty = new Set<number>();

  constructor(
    private readonly key: string,
    private readonly base: readonly unknown[],
    readonly work: unknown[],
    private readonly copies: Copies,
    private structural: boolean,
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
    const proxy = () => this.proxy;
    type Pred = (v: unknown, i: number, a: unknown[]) => unknown;
    const findIndex = (pred: Pred, thisArg?: unknown, fromEnd = false): number => {
      if (fromEnd) {
        for (let i = t.length - 1; i >= 0; i--) if (pred.call(thisArg, t[i], i, proxy())) return i;
      } else for (let i = 0; i < t.length; i++) if (pred.call(thisArg, t[i], i, proxy())) return i;
      return -1;
    };
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
        for (let i = 0; i < t.length; i++) if (pred.call(thisArg, t[i], i, proxy())) out.push(this.at(i));
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

/**
 * Every changed record has a string id found nowhere else in the list. With `base` (only appends and element
 * writes) the base's id index answers that without a scan, and the next list shares it; otherwise one scan.
 */
function checkIds(key: string, list: readonly unknown[], positions: number[], base?: readonly unknown[]): void {
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

/**
 * An object of independent values (the state's top level, `meta`): a value is copied when the fn reaches it and
 * compared at commit only if it was reached, set or deleted.
 */
class MapDraft {
  readonly proxy: Tree;
  private readonly dirty = new Set<string>();

  constructor(
    private readonly base: Readonly<Tree>,
    private readonly target: Tree,
    private readonly copies: Copies,
    /** The whole object was replaced: every key counts as touched. */
    private readonly whole: boolean,
    private readonly reach?: (key: string) => { value: unknown } | undefined,
    private readonly assign?: (key: string, v: unknown) => boolean,
    private readonly remove?: (key: string) => void,
  ) {
    this.proxy = new Proxy(target, {
      get: (t, p, receiver) => {
        if (typeof p !== 'string' || !Object.hasOwn(t, p)) return Reflect.get(t, p, receiver);
        const special = this.reach?.(p);
        if (special) return special.value;
        return this.at(p);
      },
      set: (t, p, v) => {
        if (typeof p !== 'string') return Reflect.set(t, p, v);
        if (this.assign?.(p, v)) return true;
        this.dirty.add(p);
        return Reflect.set(t, p, v);
      },
      deleteProperty: (t, p) => {
        if (typeof p === 'string') {
          this.remove?.(p);
          this.dirty.add(p);
        }
        return Reflect.deleteProperty(t, p);
      },
      defineProperty: (t, p, d) => {
        if (typeof p === 'string') this.dirty.add(p);
        return Reflect.defineProperty(t, p, d);
      },
      getOwnPropertyDescriptor: (t, p) => {
        if (typeof p === 'string' && Object.hasOwn(t, p) && !this.reach?.(p)) this.at(p);
        return Reflect.getOwnPropertyDescriptor(t, p);
      },
    });
  }

  /** Set once finished (see ListDraft). */
  private done = false;

  private at(p: string): unknown {
    const v = this.target[p];
    if (this.done || !isFrozenObject(v)) return v;
    const c = this.copies.own(v);
    this.target[p] = c;
    this.dirty.add(p);
    return c;
  }

  /** Keys that may have changed: reached, set or deleted (all of them once the object was replaced). */
  touched(): Set<string> {
    return this.whole ? new Set([...Object.keys(this.base), ...Object.keys(this.target)]) : this.dirty;
  }

  /** The target with every touched key settled: unchanged values back to the base's, changed ones fresh. */
  finish(skip: ReadonlySet<string> = new Set()): { value: Tree; change: MapChange | undefined } {
    this.done = true;
    const t = this.target;
    const set = new Map<string, unknown>();
    const deleted: string[] = [];
    for (const k of this.touched()) {
      if (skip.has(k)) continue;
      const had = Object.hasOwn(this.base, k);
      const b = this.base[k];
      if (Object.hasOwn(t, k)) {
        const v = t[k];
        if (had && (v === b || sameJson(v, b))) {
          t[k] = b;
          continue;
        }
        const n = fresh(v);
        if (n !== undefined) {
          t[k] = n;
          set.set(k, n);
          continue;
        }
        delete t[k]; // JSON drops an undefined value
      }
      if (had) deleted.push(k);
    }
    if (set.size === 0 && deleted.length === 0 && (!this.whole || sameKeyOrder(t, this.base)))
      return { value: this.base as Tree, change: undefined };
    return { value: t, change: { set, deleted } };
  }
}

function sameKeyOrder(a: Tree, b: Readonly<Tree>): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

/** A copy-on-write draft of a frozen state (see the top of this file). `finish` once, after the fn returned. */
export class Draft<T extends object> {
  readonly root: T;
  private readonly copies = new Copies();
  private readonly lists = new Map<string, ListDraft>();
  private readonly maps = new Map<string, MapDraft>();
  private readonly byProxy = new WeakMap<object, ListDraft | MapDraft>();
  private readonly top: MapDraft;
  private readonly topTarget: Tree;

  constructor(
    private readonly base: Readonly<T>,
    private readonly shape: DraftShape,
  ) {
    const b = base as Readonly<Tree>;
    this.topTarget = { ...b };
    this.top = new MapDraft(
      b,
      this.topTarget,
      this.copies,
      false,
      (k) => this.reach(k),
      (k, v) => this.assign(k, v),
      (k) => {
        if (this.isPart(k)) throw new TypeError(`"${k}" is part of the state and cannot be deleted`);
      },
    );
    this.root = this.top.proxy as T;
  }

  private isPart(k: string): boolean {
    return this.shape.lists.includes(k) || this.shape.maps.includes(k);
  }

  private reach(k: string): { value: unknown } | undefined {
    if (this.shape.lists.includes(k)) return { value: this.list(k).proxy };
    if (this.shape.maps.includes(k)) return { value: this.map(k).proxy };
    return undefined;
  }

  private list(k: string, adopt?: unknown[]): ListDraft {
    let d = this.lists.get(k);
    if (!d || adopt) {
      const base = (this.base as Readonly<Tree>)[k] as readonly unknown[];
      d = adopt
        ? new ListDraft(k, base, adopt, this.copies, true)
        : new ListDraft(k, base, [...base], this.copies, false);
      this.lists.set(k, d);
      this.byProxy.set(d.proxy, d);
    }
    return d;
  }

  private map(k: string, adopt?: Tree): MapDraft {
    let d = this.maps.get(k);
    if (!d || adopt) {
      const base = (this.base as Readonly<Tree>)[k] as Readonly<Tree>;
      d = adopt ? new MapDraft(base, adopt, this.copies, true) : new MapDraft(base, { ...base }, this.copies, false);
      this.maps.set(k, d);
      this.byProxy.set(d.proxy, d);
    }
    return d;
  }

  /** Assigning a whole list or map: the fn's value becomes the draft of that key (a live reference, as in JS). */
  private assign(k: string, v: unknown): boolean {
    if (this.shape.lists.includes(k)) {
      if (!Array.isArray(v)) throw new TypeError(`"${k}" must stay a list`);
      const mine = this.byProxy.get(v);
      if (mine === this.lists.get(k)) return true; // d.x = d.x
      this.list(k, mine instanceof ListDraft ? mine.work : v);
      return true;
    }
    if (this.shape.maps.includes(k)) {
      if (!isObject(v) || Array.isArray(v)) throw new TypeError(`"${k}" must stay an object`);
      const mine = this.byProxy.get(v);
      if (mine === this.maps.get(k)) return true;
      this.map(k, mine instanceof MapDraft ? { ...(v as Tree) } : (v as Tree));
      return true;
    }
    return false;
  }

  /** The next state and what changed; throws (the fn's own failure) if the result cannot be stored. */
  finish(): Finished<T> {
    const base = this.base as Readonly<Tree>;
    const lists = new Map<string, ListChange>();
    const maps = new Map<string, MapChange>();
    const changed = new Set<string>();
    const next: Tree = {};
    const parts = new Set([...this.lists.keys(), ...this.maps.keys()]);
    const top = this.top.finish(parts);
    for (const k of Object.keys(top.value)) {
      if (this.lists.has(k)) {
        const r = this.lists.get(k)!.finish(this.shape.requireIds);
        next[k] = r.value;
        if (r.change) lists.set(k, r.change);
      } else if (this.maps.has(k)) {
        const r = this.maps.get(k)!.finish();
        next[k] = r.value === base[k] ? r.value : Object.freeze(r.value);
        if (r.change) maps.set(k, r.change);
      } else next[k] = top.value[k];
      if (next[k] !== base[k]) changed.add(k);
    }
    for (const k of Object.keys(base)) if (!Object.hasOwn(next, k)) changed.add(k);
    for (const k of changed) {
      if (this.shape.fixed.includes(k)) throw new TypeError(`${k} is not changed by an update`);
      if (!Object.hasOwn(next, k) && this.isPart(k))
        throw new TypeError(`"${k}" is part of the state and cannot be deleted`);
      if (!this.shape.extraKeys && !this.isPart(k) && !this.shape.fixed.includes(k))
        throw new Error(`unknown state key "${k}"`);
    }
    if (changed.size === 0) return { state: this.base, changed, lists, maps };
    return { state: Object.freeze(next) as T, changed, lists, maps };
  }
}
