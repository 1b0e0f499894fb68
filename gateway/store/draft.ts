// Copy-on-write drafts of the state, per record. An update fn gets a draft whose records are copied only when
// the fn reaches one (by index, find, filter, iteration), so the commit knows which records may have changed
// and compares and copies those alone; every other record, and every collection the fn did not change, stays
// the same frozen object in the next state. Why: the state keeps years of sessions and requests, and copying,
// comparing and freezing whole collections on every update held the event loop (and with it every relay) for
// hundreds of milliseconds at that size. Both storage engines use this; PostgreSQL writes the changed records
// as rows, lowdb re-serialises only their text (store/file-text.ts).
import { type ListChange, ListDraft } from './draft-list.js';
import { type MapChange, MapDraft } from './draft-map.js';
import { Copies, isObject, type Tree } from './draft-values.js';
import { isSharedList } from './shared-list.js';

export { findById, idIndexOf, shareIdIndex } from './draft-ids.js';
export { byId, type ListChange, retainWhere } from './draft-list.js';
export type { MapChange } from './draft-map.js';
export { freshTexts } from './draft-values.js';
export { isSharedList, sharedChunks, sharedList, sharedWith } from './shared-list.js';

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

export interface Finished<T> {
  /** The next state, deeply frozen, sharing every unchanged value with the base. */
  state: T;
  /** Top-level keys whose value is a different object (or was added or deleted). */
  changed: Set<string>;
  lists: Map<string, ListChange>;
  maps: Map<string, MapChange>;
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
      // A shared list (PostgreSQL's) is not copied: the draft starts lazy over its chunks (store/shared-list.ts).
      d = adopt
        ? new ListDraft(k, base, adopt, this.copies, true)
        : isSharedList(base)
          ? new ListDraft(k, base, [], this.copies, false, this.shape.requireIds, true)
          : new ListDraft(k, base, [...base], this.copies, false, this.shape.requireIds);
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
      this.list(k, mine instanceof ListDraft ? mine.flat() : v);
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
