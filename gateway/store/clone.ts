// Deep copies with exactly JSON's semantics, fast enough to take one per update; and deep freezing.
import { isSharedList } from './shared-list.js';

/**
 * Equals `JSON.parse(JSON.stringify(value))` for anything JSON.stringify accepts (Dates become
 * strings, undefined/function members vanish, NaN becomes null), and throws where it throws
 * (BigInt, cycles). Why not structuredClone: on a db with 10,000 records it took 19 ms here,
 * this 3 ms — and the store takes one copy per update. Why JSON semantics: memory must hold
 * exactly what db.json holds, or a restart would change what the gateway sees.
 */
export function jsonClone<T>(value: T): T {
  const out = cloneValue(value, '');
  if (out === undefined) throw new TypeError('jsonClone: value has no JSON form');
  return out as T;
}

function cloneValue(v: unknown, key: string): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v + 0 : null; // + 0 turns -0 into 0, as JSON does
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    case 'object':
      break;
    default:
      return undefined; // undefined, function, symbol: dropped like JSON.stringify does
  }
  if (v === null) return null;
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return cloneValue(toJSON.call(v, key), key);
  if (Array.isArray(v)) {
    const arr = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) arr[i] = cloneValue(v[i], String(i)) ?? null;
    return arr;
  }
  const obj: Record<string, unknown> = {};
  for (const k of Object.keys(v as object)) {
    const c = cloneValue((v as Record<string, unknown>)[k], k);
    if (c !== undefined) obj[k] = c;
  }
  return obj;
}

/** Freezes a JSON tree in place (~0.7 ms at 10,000 records) and returns it. A shared list is read only already. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value) && !isSharedList(value)) {
    for (const k of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[k]);
    Object.freeze(value);
  }
  return value;
}

/** Deep equality of two JSON values (as JSON would compare them once both are stored): cheaper than their texts. */
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
    // Same keys in the same order: the stored text is what is compared in the end.
    const k = ka[i]!;
    if (k !== kb[i] || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
