// db.json's bytes, assembled from pieces cached per frozen value. A list is cut into chunks of CHUNK records at
// fixed positions; a chunk whose records are the same objects as in the list written before keeps its encoded
// bytes, so an update encodes the chunks holding the records it changed (and the small values: meta), not the
// document. Why: stringifying and encoding all of db.json on every update held the event loop for tens of
// milliseconds at 10,000 sessions. Writing the bytes to disk happens off the event loop. The result is exactly
// `JSON.stringify(state) + "\n"`.
import { freshTexts } from './draft.js';

/** Records per chunk: small enough that re-encoding one is cheap, large enough that there are few pieces. */
const CHUNK = 256;

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

interface Chunked {
  list: readonly unknown[];
  chunks: Buffer[];
}

export class FileText {
  /** Text per committed (frozen, so unchanging) record. */
  private readonly texts = new WeakMap<object, string>();
  /** Per list key, the chunks of the list last assembled. */
  private readonly last = new Map<string, Chunked>();

  constructor(private readonly lists: readonly string[]) {}

  /** The pieces of `JSON.stringify(state) + "\n"`, in order. */
  of(state: object): Buffer[] {
    const out: Buffer[] = [];
    let first = true;
    let head = '{';
    for (const [key, value] of Object.entries(state)) {
      if (this.lists.includes(key) && Array.isArray(value)) {
        out.push(Buffer.from(`${head}${first ? '' : ','}${JSON.stringify(key)}:[`));
        out.push(...this.list(key, value));
        head = ']';
      } else {
        const t = JSON.stringify(value) as string | undefined;
        if (t === undefined) continue;
        out.push(Buffer.from(`${head}${first ? '' : ','}${JSON.stringify(key)}:${t}`));
        head = '';
      }
      first = false;
    }
    out.push(Buffer.from(`${head}}\n`));
    return out;
  }

  /** The list's chunks (each but the first led by its comma), reusing the last list's where the records are the same. */
  private list(key: string, list: readonly unknown[]): Buffer[] {
    const prev = this.last.get(key);
    if (prev?.list === list) return prev.chunks;
    const chunks: Buffer[] = [];
    for (let c = 0, start = 0; start < list.length; c++, start += CHUNK) {
      const end = Math.min(start + CHUNK, list.length);
      const old = prev?.chunks[c];
      if (
        old &&
        end - start === Math.min(CHUNK, prev!.list.length - start) &&
        sameSlice(prev!.list, list, start, end)
      ) {
        chunks.push(old);
        continue;
      }
      const items = new Array<string>(end - start);
      for (let i = start; i < end; i++) items[i - start] = this.text(list[i]);
      chunks.push(Buffer.from(`${start === 0 ? '' : ','}${items.join(',')}`));
    }
    if (Object.isFrozen(list)) this.last.set(key, { list, chunks });
    return chunks;
  }

  private text(v: unknown): string {
    if (!isObject(v)) return (JSON.stringify(v) as string | undefined) ?? 'null';
    let t = this.texts.get(v) ?? freshTexts.get(v);
    if (t === undefined) {
      t = JSON.stringify(v);
      if (Object.isFrozen(v)) this.texts.set(v, t);
    }
    return t;
  }
}

function sameSlice(a: readonly unknown[], b: readonly unknown[], start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (a[i] !== b[i]) return false;
  return true;
}
