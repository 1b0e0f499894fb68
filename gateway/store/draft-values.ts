// What the copy-on-write drafts (store/draft.ts) share: how a value is stored (fresh, frozen, its JSON text kept)
// and the per-draft copies of committed objects.
import { deepFreeze, jsonClone } from './clone.js';

export type Tree = Record<string, unknown>;

export const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;
export const isFrozenObject = (v: unknown): v is object => isObject(v) && Object.isFrozen(v);
export const isIndex = (p: string | symbol): boolean =>
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
export function fresh(v: unknown): unknown {
  const text = JSON.stringify(v) as string | undefined;
  if (text === undefined) return undefined;
  const out = deepFreeze(JSON.parse(text) as unknown);
  if (isObject(out)) freshTexts.set(out, text);
  return out;
}

/** A list element as it will be stored: what JSON makes of an array slot (undefined becomes null). */
export const freshElement = (v: unknown): unknown => fresh(v) ?? null;

export const idOf = (v: unknown): unknown => (isObject(v) ? (v as { id?: unknown }).id : undefined);

/** The shared copies of one draft: a committed object reached twice is the same copy both times. */
export class Copies {
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
