// The draft of an object of independent values (store/draft.ts): the state's top level and `meta`.
import { sameJson } from './clone.js';
import { Copies, fresh, isFrozenObject, type Tree } from './draft-values.js';

/** What one finished draft changed in a map: the keys set (with their new frozen values) and the keys deleted. */
export interface MapChange {
  set: Map<string, unknown>;
  deleted: string[];
}

/**
 * An object of independent values (the state's top level, `meta`): a value is copied when the fn reaches it and
 * compared at commit only if it was reached, set or deleted.
 */
export class MapDraft {
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
