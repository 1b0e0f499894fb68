// The store's update path, per top-level key: an update fn clones, and the store then validates, freezes and
// re-serialises, only the keys (collections) it touched. Why: db.json keeps years of sessions and requests, and
// cloning, freezing and stringifying all of it on every update blocked the event loop, and with it every
// relay, for hundreds of milliseconds at a year's size.
import { deepFreeze, jsonClone } from './clone.js';

type Tree = Record<string, unknown>;

/**
 * A draft over `base` (frozen) whose top-level values are cloned on first access (read or write), so an fn
 * that pushes one session clones the sessions and nothing else. `touched` collects the keys accessed,
 * added or deleted.
 */
export function lazyDraft<T extends object>(base: Readonly<T>, touched: Set<string>): T {
  const draft: Tree = {};
  const own = (key: string, value: unknown) => {
    Object.defineProperty(draft, key, { value, writable: true, enumerable: true, configurable: true });
    touched.add(key);
  };
  for (const key of Object.keys(base)) {
    Object.defineProperty(draft, key, {
      enumerable: true,
      configurable: true,
      get() {
        const copy = jsonClone((base as Tree)[key]);
        own(key, copy);
        return copy;
      },
      set(value: unknown) {
        own(key, value);
      },
    });
  }
  // Keys added or deleted at the top level are noticed by comparing key sets (see `settle`).
  return draft as T;
}

/**
 * The state after a successful fn. Each touched key is stringified (which also proves it is plain JSON: a
 * cycle or a BigInt throws here, as the fn's own failure); if its text equals the text before, the fn only
 * read it and the old (frozen) value stays; otherwise the new value is copied with JSON's semantics, so the
 * state holds exactly what db.json will hold and no fn keeps a live reference into it. Returns the new
 * state and the changed keys with their texts (undefined: the key is gone).
 */
export function settle<T extends object>(
  base: Readonly<T>,
  draft: T,
  touched: ReadonlySet<string>,
  textOf: (key: string) => string | undefined,
): { state: T; changed: Map<string, string | undefined> } {
  const changed = new Map<string, string | undefined>();
  const next: Tree = {};
  for (const key of new Set([...Object.keys(base), ...Object.keys(draft)])) {
    const kept = Object.hasOwn(base, key) ? (base as Tree)[key] : undefined;
    if (!touched.has(key) && Object.hasOwn(draft, key) && Object.hasOwn(base, key)) {
      next[key] = kept;
      continue;
    }
    const value = Object.hasOwn(draft, key) ? (draft as Tree)[key] : undefined;
    const text = value === undefined ? undefined : (JSON.stringify(value) as string | undefined); // undefined: JSON drops it
    if (text !== undefined && text === textOf(key)) {
      next[key] = kept;
      continue;
    }
    changed.set(key, text);
    // A fresh copy with JSON's semantics (jsonClone: faster than JSON.parse of the text, same result).
    if (text !== undefined) next[key] = jsonClone(value);
  }
  return { state: next as T, changed };
}

/** Freezes the changed values (the shared ones are frozen already) and the top level. */
export function freezeChanged<T extends object>(state: T, changed: Iterable<string>): T {
  for (const key of changed) if (Object.hasOwn(state, key)) deepFreeze((state as Tree)[key]);
  return Object.freeze(state);
}

/**
 * The JSON text of each top-level value of the committed state, kept between writes: db.json's text
 * (exactly `JSON.stringify(state) + "\n"`) is assembled from them, so only changed keys are stringified.
 */
export class StateTexts {
  private readonly texts = new Map<string, string>();

  /** The text of `committed[key]` (stringified once, then cached). */
  of(committed: object, key: string): string | undefined {
    let t = this.texts.get(key);
    if (t === undefined && Object.hasOwn(committed, key)) {
      t = JSON.stringify((committed as Tree)[key]) as string | undefined;
      if (t !== undefined) this.texts.set(key, t);
    }
    return t;
  }

  /** db.json's text for `state`: `pending` texts for keys changed since `committed`, cached ones otherwise. */
  file(state: object, committed: object, pending: ReadonlyMap<string, string | undefined>): string {
    const parts: string[] = [];
    for (const key of Object.keys(state)) {
      const t = pending.has(key) ? pending.get(key) : this.of(committed, key);
      if (t !== undefined) parts.push(`${JSON.stringify(key)}:${t}`);
    }
    return `{${parts.join(',')}}\n`;
  }

  /** Once `pending` is on disk and is the committed state. */
  commit(pending: ReadonlyMap<string, string | undefined>): void {
    for (const [key, t] of pending) {
      if (t === undefined) this.texts.delete(key);
      else this.texts.set(key, t);
    }
  }
}
