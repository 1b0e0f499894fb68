// db.json's text, assembled from texts cached per frozen value: each record is stringified once, when it is
// committed, and a list's text is the join of its records' texts. Why: re-stringifying whole collections on
// every update held the event loop for tens of milliseconds at a year's size; an update now stringifies the
// records it changed. The result is exactly `JSON.stringify(state)`.

import { freshTexts } from './draft.js';

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

export class FileText {
  /** Text per committed (frozen, so unchanging) object: records, lists, maps. */
  private readonly texts = new WeakMap<object, string>();

  constructor(private readonly lists: readonly string[]) {}

  /** `JSON.stringify(state) + "\n"`, from cached texts where the value was seen before. */
  of(state: object): string {
    const parts: string[] = [];
    for (const [key, value] of Object.entries(state)) {
      const t = this.lists.includes(key) && Array.isArray(value) ? this.list(value) : this.value(value);
      if (t !== undefined) parts.push(`${JSON.stringify(key)}:${t}`);
    }
    return `{${parts.join(',')}}\n`;
  }

  private list(list: readonly unknown[]): string {
    let t = this.texts.get(list);
    if (t === undefined) {
      const items = new Array<string>(list.length);
      for (let i = 0; i < list.length; i++) items[i] = this.value(list[i]) ?? 'null';
      t = `[${items.join(',')}]`;
      if (Object.isFrozen(list)) this.texts.set(list, t);
    }
    return t;
  }

  private value(v: unknown): string | undefined {
    if (!isObject(v)) return JSON.stringify(v) as string | undefined;
    let t = this.texts.get(v) ?? freshTexts.get(v);
    if (t === undefined) {
      t = JSON.stringify(v);
      if (Object.isFrozen(v)) this.texts.set(v, t);
    }
    return t;
  }
}
