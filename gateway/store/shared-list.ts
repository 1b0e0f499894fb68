// A committed list of records held in chunks, so that the next state shares every chunk an update did not touch.
//
// Why: a state is a frozen snapshot that readers may hold while the next one is made. With each list one JS array,
// an update that appends or replaces one record had to copy every slot of its list: at 100,000 sessions an 800 KB
// array per update, which V8 puts in its large-object space (old generation, over 128 KiB), so a few dozen updates
// brought a mark-compact of the whole heap, tens of milliseconds with every relay waiting. Here an append or a
// replaced record copies one chunk (8 KiB, young garbage) and the chunk directory (8 bytes a chunk).
//
// Readers see an array: a read-only Proxy (Array.isArray, length, indexes, iteration, JSON) whose searches
// (find, filter, some, …) and iteration run over the chunks directly, at a plain loop's speed. Writing to it
// throws, as writing to a frozen array does. The PostgreSQL engine keeps its lists so (storage/postgres/state.ts);
// drafts (draft-list.ts) read them without copying them.

import { type InspectOptions, inspect } from 'node:util';

const SHIFT = 10;
/** Slots per chunk: 1,024 pointers are 8 KiB, far below V8's large-object threshold. */
export const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

/** The storage of one shared list: full chunks but the last, frozen, and the directory of them (frozen). */
export class SharedChunks {
  constructor(
    readonly dir: readonly (readonly unknown[])[],
    readonly length: number,
  ) {}

  at(i: number): unknown {
    return this.dir[i >> SHIFT]![i & MASK];
  }
}

const byTarget = new WeakMap<object, SharedChunks>();
const byList = new WeakMap<object, SharedChunks>();

/** The chunks behind a shared list (undefined for anything else). */
export function sharedChunks(list: unknown): SharedChunks | undefined {
  return typeof list === 'object' && list !== null ? byList.get(list) : undefined;
}

export const isSharedList = (v: unknown): boolean => sharedChunks(v) !== undefined;

/** A shared list holding `items` (already frozen records; the array itself is left alone). */
export function sharedList<T>(items: readonly T[]): T[] {
  const dir: (readonly unknown[])[] = [];
  for (let k = 0; k < items.length; k += CHUNK) dir.push(Object.freeze(items.slice(k, k + CHUNK)));
  return make(new SharedChunks(Object.freeze(dir), items.length)) as T[];
}

/**
 * The list with slots replaced and records appended: copies the chunks that change and the directory, and shares
 * every other chunk with `list`.
 */
export function sharedWith(
  list: readonly unknown[],
  replaced: Iterable<[number, unknown]>,
  appended: readonly unknown[],
): unknown[] {
  const c = byList.get(list)!;
  const dir = c.dir.slice();
  const copied = new Set<number>();
  const own = (k: number): unknown[] => {
    if (!copied.has(k)) {
      dir[k] = dir[k] ? dir[k].slice() : [];
      copied.add(k);
    }
    return dir[k] as unknown[];
  };
  for (const [i, v] of replaced) {
    if (!(i >= 0 && i < c.length)) throw new RangeError(`no slot ${i} in a list of ${c.length}`);
    own(i >> SHIFT)[i & MASK] = v;
  }
  let n = c.length;
  for (const v of appended) own(n++ >> SHIFT).push(v);
  for (const k of copied) Object.freeze(dir[k]);
  return make(new SharedChunks(Object.freeze(dir), n));
}

/** A plain (unfrozen) array of the list's slots. */
export function flatCopy(c: SharedChunks): unknown[] {
  const out = new Array<unknown>(c.length);
  let i = 0;
  for (const ch of c.dir) for (let j = 0; j < ch.length; j++) out[i++] = ch[j];
  return out;
}

/** util.inspect (console.log) shows a Proxy's target, not through its traps: the empty target is told to show the records. */
function inspectList(this: unknown, _depth: number, options: InspectOptions, show: typeof inspect): string {
  return show(flatCopy(chunksOfThis(this)), options);
}

function make(c: SharedChunks): unknown[] {
  const target: unknown[] = [];
  Object.defineProperty(target, inspect.custom, { value: inspectList, configurable: true });
  byTarget.set(target, c);
  const list = new Proxy(target, handler);
  byList.set(list, c);
  return list;
}

/** A canonical array index ("0", "17"), as a number; -1 for any other key. */
export function indexKey(p: string | symbol): number {
  if (typeof p !== 'string') return -1;
  const n = p.length;
  if (n === 0 || n > 15) return -1;
  const c0 = p.charCodeAt(0);
  if (c0 < 48 || c0 > 57 || (c0 === 48 && n > 1)) return -1;
  for (let k = 1; k < n; k++) {
    const c = p.charCodeAt(k);
    if (c < 48 || c > 57) return -1;
  }
  return Number(p);
}

type Pred = (v: unknown, i: number, a: unknown[]) => unknown;

/**
 * The first (or last) slot `pred` accepts: a plain loop over each chunk (`a` is the list handed to `pred`). One
 * function for every list and draft (draft-list.ts), so V8 optimises it once.
 */
export function searchChunks(c: SharedChunks, a: unknown[], pred: Pred, thisArg: unknown, fromEnd: boolean): number {
  const dir = c.dir;
  if (thisArg !== undefined) pred = pred.bind(thisArg);
  if (fromEnd) {
    for (let k = dir.length - 1; k >= 0; k--) {
      const ch = dir[k]!;
      const off = k << SHIFT;
      for (let j = ch.length - 1; j >= 0; j--) if (pred(ch[j], off + j, a)) return off + j;
    }
    return -1;
  }
  for (let k = 0; k < dir.length; k++) {
    const ch = dir[k]!;
    const off = k << SHIFT;
    for (let j = 0; j < ch.length; j++) if (pred(ch[j], off + j, a)) return off + j;
  }
  return -1;
}

const search = searchChunks;

const chunksOfThis = (self: unknown): SharedChunks => {
  const c = sharedChunks(self);
  if (!c) throw new TypeError('not a shared list');
  return c;
};

function* values(this: unknown): Generator<unknown> {
  for (const ch of chunksOfThis(this).dir) yield* ch;
}

/** The array methods a reader uses most, over the chunks; every other one works through the traps. */
const METHODS: Record<string, unknown> = {
  find(this: unknown[], pred: Pred, thisArg?: unknown) {
    const c = chunksOfThis(this);
    const i = search(c, this, pred, thisArg, false);
    return i < 0 ? undefined : c.at(i);
  },
  findLast(this: unknown[], pred: Pred, thisArg?: unknown) {
    const c = chunksOfThis(this);
    const i = search(c, this, pred, thisArg, true);
    return i < 0 ? undefined : c.at(i);
  },
  findIndex(this: unknown[], pred: Pred, thisArg?: unknown) {
    return search(chunksOfThis(this), this, pred, thisArg, false);
  },
  findLastIndex(this: unknown[], pred: Pred, thisArg?: unknown) {
    return search(chunksOfThis(this), this, pred, thisArg, true);
  },
  some(this: unknown[], pred: Pred, thisArg?: unknown) {
    return search(chunksOfThis(this), this, pred, thisArg, false) >= 0;
  },
  every(this: unknown[], pred: Pred, thisArg?: unknown) {
    return search(chunksOfThis(this), this, (v, i, a) => !pred.call(thisArg, v, i, a), undefined, false) < 0;
  },
  filter(this: unknown[], pred: Pred, thisArg?: unknown) {
    const out: unknown[] = [];
    search(chunksOfThis(this), this, (v, i, a) => void (pred.call(thisArg, v, i, a) && out.push(v)), undefined, false);
    return out;
  },
  map(this: unknown[], fn: Pred, thisArg?: unknown) {
    const out = new Array<unknown>(chunksOfThis(this).length);
    search(chunksOfThis(this), this, (v, i, a) => void (out[i] = fn.call(thisArg, v, i, a)), undefined, false);
    return out;
  },
  forEach(this: unknown[], fn: Pred, thisArg?: unknown) {
    search(chunksOfThis(this), this, (v, i, a) => void fn.call(thisArg, v, i, a), undefined, false);
  },
  reduce(this: unknown[], fn: (acc: unknown, v: unknown, i: number, a: unknown[]) => unknown, ...init: unknown[]) {
    const c = chunksOfThis(this);
    if (init.length === 0 && c.length === 0) throw new TypeError('Reduce of empty array with no initial value');
    let acc = init.length > 0 ? init[0] : c.at(0);
    const from = init.length > 0 ? 0 : 1;
    search(c, this, (v, i, a) => void (i >= from && (acc = fn(acc, v, i, a))), undefined, false);
    return acc;
  },
  includes(this: unknown[], v: unknown, from?: number) {
    if (from !== undefined) return flatCopy(chunksOfThis(this)).includes(v, from);
    return search(chunksOfThis(this), this, (x) => x === v || (v !== v && x !== x), undefined, false) >= 0;
  },
  indexOf(this: unknown[], v: unknown, from?: number) {
    if (from !== undefined) return flatCopy(chunksOfThis(this)).indexOf(v, from);
    return search(chunksOfThis(this), this, (x) => x === v, undefined, false);
  },
  at(this: unknown[], i: number) {
    const c = chunksOfThis(this);
    const k = Math.trunc(i) || 0;
    const at = k < 0 ? c.length + k : k;
    return at >= 0 && at < c.length ? c.at(at) : undefined;
  },
  slice(this: unknown[], start?: number, end?: number) {
    const c = chunksOfThis(this);
    const n = c.length;
    const bound = (v: number | undefined, d: number) => {
      const k = v === undefined ? d : Math.trunc(v) || 0;
      return k < 0 ? Math.max(n + k, 0) : Math.min(k, n);
    };
    const out: unknown[] = [];
    for (let i = bound(start, 0), to = bound(end, n); i < to; i++) out.push(c.at(i));
    return out;
  },
  values,
};

const handler: ProxyHandler<unknown[]> = {
  get(t, p, receiver) {
    const c = byTarget.get(t)!;
    if (p === 'length') return c.length;
    const i = indexKey(p);
    if (i >= 0) return i < c.length ? c.at(i) : undefined;
    if (p === Symbol.iterator) return values;
    if (typeof p === 'string' && Object.hasOwn(METHODS, p)) return METHODS[p];
    return Reflect.get(t, p, receiver);
  },
  has(t, p) {
    const i = indexKey(p);
    return i >= 0 ? i < byTarget.get(t)!.length : Reflect.has(t, p);
  },
  ownKeys(t) {
    const n = byTarget.get(t)!.length;
    const keys: string[] = [];
    for (let i = 0; i < n; i++) keys.push(String(i));
    keys.push('length');
    return keys;
  },
  getOwnPropertyDescriptor(t, p) {
    const c = byTarget.get(t)!;
    const i = indexKey(p);
    if (i >= 0)
      return i < c.length ? { value: c.at(i), writable: false, enumerable: true, configurable: true } : undefined;
    // The target's own length is writable and non-configurable: the descriptor must agree on that.
    if (p === 'length') return { value: c.length, writable: true, enumerable: false, configurable: false };
    return Reflect.getOwnPropertyDescriptor(t, p);
  },
  // Read only, as a frozen array is: in strict code each of these throws a TypeError.
  set: () => false,
  defineProperty: () => false,
  deleteProperty: () => false,
  preventExtensions: () => false,
  setPrototypeOf: () => false,
};
