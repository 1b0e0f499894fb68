// Canonical JSON and the byte layout of one audit.jsonl line: how a record is written, hashed and re-checked.
//
// Canonical JSON (what the hash covers): object keys sorted by UTF-16 code units (JS default sort) at
// every depth, no whitespace, strings and numbers exactly as JSON.stringify writes them, properties whose
// value is undefined (or a function) left out, undefined in arrays written as null, toJSON() honoured.
// Non-finite numbers and bigints are refused rather than silently rewritten. For the values Gatehouse
// writes this is the same text RFC 8785 (JCS) gives.
//
// A line is `{"seq":…,"at":…,"type":…,"actor":…,"subject":…,"data":…,"prev":…,"hash":…}` (SPEC order;
// subject/data left out when absent) and
// hash = sha256hex(prev + canonicalJson(record without hash)), whose top-level keys are therefore in the
// order actor, at, data, prev, seq, subject, type.
import crypto from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

// crypto.hash (one-shot, Node >= 20.12) is about twice as fast as createHash for short inputs.
// Strings are hashed as UTF-8.
const oneShot = (crypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'hex') => string }).hash;
export const sha256hex: (data: string | Uint8Array) => string = oneShot
  ? (data) => oneShot('sha256', data, 'hex')
  : (data) => crypto.createHash('sha256').update(data).digest('hex');

const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${value} is not a finite number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          out += (i ? ',' : '') + (omitted(item) ? 'null' : canonicalJson(item));
        }
        return out + ']';
      }
      const withToJson = value as { toJSON?: () => unknown };
      if (typeof withToJson.toJSON === 'function') return canonicalJson(withToJson.toJSON());
      const obj = value as Record<string, unknown>;
      let out = '{';
      for (const key of Object.keys(obj).sort()) {
        const item = obj[key];
        if (omitted(item)) continue;
        out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + canonicalJson(item);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof value}`);
  }
}

/** The canonical JSON texts of one record's parts; `at` and `type` already JSON-quoted. */
export interface LineParts {
  seq: number;
  at: string;
  type: string;
  actor: string;
  subject?: string | undefined;
  data?: string | undefined;
  prev: string;
}

/** prev + canonical JSON of the record without hash: the text the record's hash covers. */
export function hashInput(p: LineParts): string {
  return (
    p.prev +
    '{"actor":' +
    p.actor +
    ',"at":' +
    p.at +
    (p.data === undefined ? '' : ',"data":' + p.data) +
    ',"prev":"' +
    p.prev +
    '","seq":' +
    p.seq +
    (p.subject === undefined ? '' : ',"subject":' + p.subject) +
    ',"type":' +
    p.type +
    '}'
  );
}

/** The line as written to audit.jsonl (without its newline). */
export function formatLine(p: LineParts, hash: string): string {
  return (
    '{"seq":' +
    p.seq +
    ',"at":' +
    p.at +
    ',"type":' +
    p.type +
    ',"actor":' +
    p.actor +
    (p.subject === undefined ? '' : ',"subject":' + p.subject) +
    (p.data === undefined ? '' : ',"data":' + p.data) +
    ',"prev":"' +
    p.prev +
    '","hash":"' +
    hash +
    '"}'
  );
}

/** What a canonical line says about itself, read off its fixed layout without parsing the JSON. */
export interface LineFields {
  seq: number;
  at: string;
  type: string;
  prev: string;
  hash: string;
}

const LINE_HEAD = /^\{"seq":([1-9]\d{0,15}),"at":"([^"\\]{1,40})","type":"([a-z0-9_.]{1,80})"/;
const HEX64 = /^[0-9a-f]{64}$/;
// `,"prev":"<64 hex>","hash":"<64 hex>"}` closes every canonical line.
const TAIL = 64 + 10 + 64 + 2;

/** Bytes [start, end) of `buf` as a line's fields; undefined when it is not laid out like one (not a proof it is intact). */
export function lineFields(buf: Buffer, start: number, end: number): LineFields | undefined {
  if (end - start < TAIL + 40) return undefined;
  const m = LINE_HEAD.exec(buf.toString('latin1', start, Math.min(end, start + 160)));
  if (!m) return undefined;
  const prev = buf.toString('latin1', end - TAIL, end - TAIL + 64);
  const hash = buf.toString('latin1', end - 66, end - 2);
  if (!HEX64.test(prev) || !HEX64.test(hash)) return undefined;
  return { seq: Number(m[1]), at: m[2]!, type: m[3]!, prev, hash };
}
