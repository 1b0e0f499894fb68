// Re-checks one audit.jsonl line against the chain: layout, canonical form, seq, prev link and hash.
//
// Two paths give the same answer. The reference path parses the line, re-encodes every part
// canonically and compares the rebuilt line with the text byte for byte. The fast path (nearly every
// line) works on the bytes as read from disk and never builds objects: one pass proves the line is
// already canonical (see audit-scan.ts), then the hash input is assembled from slices of those bytes.
// It is several times quicker, which is what lets start-up verify a million events in seconds.
// Whenever the fast path is unsure it hands over to the reference path, which also words the failure.
import { isUtf8 } from 'node:buffer';
import { canonicalJson, formatLine, hashInput, type LineParts, sha256hex } from './audit-line.js';
import { jsonObjectEnd, plainTextEnd, scanState, typeShapeOk } from './audit-scan.js';

/** What a verified line tells the chain. `data` (canonical JSON text) is always set for checkpoints. */
export interface CheckedLine {
  seq: number;
  hash: string;
  checkpoint: boolean;
  data?: string | undefined;
  /** Set for the log's own `audit.*` records only (the chain rules look at those). */
  auditType?: string | undefined;
}

export type LineCheck = (CheckedLine & { ok: true }) | { ok: false; reason: string };

const CHECKPOINT = 'audit.checkpoint';
const checkpointBytes = Buffer.from(CHECKPOINT);
const auditPrefix = Buffer.from('audit.');

/** Checks bytes [start, end) of `buf` (one line, no newline) as record `seq` following `prev`. */
export function checkLine(buf: Buffer, start: number, end: number, seq: number, prev: string): LineCheck {
  const fast = checkLineFast(buf, start, end, seq, prev);
  return fast ?? checkLineReference(buf.toString('utf8', start, end), seq, prev);
}

const typeShape = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;
const hexHash = /^[0-9a-f]{64}$/;

/** The reference path: parse, re-encode canonically, compare, hash. Exported for tests. */
export function checkLineReference(text: string, seq: number, prev: string): LineCheck {
  const fail = (reason: string): LineCheck => ({ ok: false, reason });
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(text);
  } catch {
    return fail('not valid JSON (the record was damaged or cut short)');
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return fail('not a JSON object');
  if (!Number.isSafeInteger(r.seq)) return fail('seq is missing or not an integer');
  if (r.seq !== seq) {
    const why = (r.seq as number) > seq ? 'a record was deleted or moved' : 'a record was duplicated or moved';
    return fail(`expected seq ${seq}, found seq ${r.seq} (${why})`);
  }
  if (typeof r.at !== 'string') return fail('at is missing or not a string');
  // Any well-formed type verifies, so an older verifier can still check a newer gateway's log.
  if (typeof r.type !== 'string' || !typeShape.test(r.type)) return fail('type is missing or malformed');
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(r.actor)) return fail('actor is missing or not an object');
  if (r.subject !== undefined && !isObject(r.subject)) return fail('subject is not an object');
  if (r.data !== undefined && !isObject(r.data)) return fail('data is not an object');
  if (typeof r.hash !== 'string' || !hexHash.test(r.hash)) return fail('hash is missing or malformed');
  if (r.prev !== prev) return fail("prev does not match the previous record's hash (the chain is broken)");
  let parts: LineParts;
  try {
    parts = {
      seq,
      at: JSON.stringify(r.at),
      type: JSON.stringify(r.type),
      actor: canonicalJson(r.actor),
      subject: r.subject === undefined ? undefined : canonicalJson(r.subject),
      data: r.data === undefined ? undefined : canonicalJson(r.data),
      prev,
    };
  } catch {
    return fail('a value cannot be encoded canonically');
  }
  // Why compare the whole text: extra keys, duplicate keys or alternative escapes would parse to the
  // same values yet change the bytes; only the exact canonical line is accepted.
  if (formatLine(parts, r.hash) !== text) return fail('not in canonical form (the record was edited)');
  if (sha256hex(hashInput(parts)) !== r.hash) return fail('hash mismatch (the record was altered)');
  const checkpoint = r.type === CHECKPOINT;
  const auditType = r.type.startsWith('audit.') ? r.type : undefined;
  return { ok: true, seq, hash: r.hash, checkpoint, data: checkpoint ? parts.data : undefined, auditType };
}

const bytes = (s: string) => Buffer.from(s, 'latin1');
const K = {
  seq: bytes('{"seq":'),
  at: bytes(',"at":"'),
  type: bytes('","type":"'),
  actor: bytes('","actor":'),
  subject: bytes(',"subject":'),
  data: bytes(',"data":'),
  prev: bytes(',"prev":"'),
  hash: bytes('","hash":"'),
  // Pieces of the hash input: prev + {"actor":…,"at":…,"data":…,"prev":…,"seq":…,"subject":…,"type":…}
  hActor: bytes('{"actor":'),
  hAt: bytes(',"at":"'),
  hData: bytes(',"data":'),
  hPrev: bytes(',"prev":"'),
  hSeq: bytes('","seq":'),
  hSubject: bytes(',"subject":'),
  hType: bytes(',"type":"'),
  hEnd: bytes('"}'),
};

function at(buf: Buffer, i: number, k: Buffer): boolean {
  if (i + k.length > buf.length) return false;
  for (let j = 0; j < k.length; j++) if (buf[i + j] !== k[j]) return false;
  return true;
}

// The hash input is assembled here. Short pieces go byte by byte; longer ones through
// Uint8Array#set on a plain Uint8Array view (Buffer#copy and Buffer#subarray cost more in their JS wrappers).
let scratch = new Uint8Array(4096);
function copy(dst: Uint8Array, n: number, src: Uint8Array, from: number, to: number): number {
  if (to - from > 48) {
    dst.set(src.subarray(from, to), n);
    return n + to - from;
  }
  for (let j = from; j < to; j++) dst[n++] = src[j]!;
  return n;
}
const copyK = (dst: Uint8Array, n: number, k: Uint8Array) => copy(dst, n, k, 0, k.length);

/** The fast path; undefined means "ask the reference path", never "bad". Exported for tests. */
export function checkLineFast(b: Buffer, s: number, e: number, seq: number, prev: string): LineCheck | undefined {
  scanState.sawNonAscii = false;
  if (!at(b, s, K.seq)) return undefined;
  let i = s + K.seq.length;
  const seqStart = i;
  let found = 0;
  for (let c = b[i]!; c >= 48 && c <= 57 && i - seqStart < 16; c = b[++i]!) found = found * 10 + c - 48;
  if (found !== seq || b[seqStart] === 48) return undefined;
  const seqEnd = i;
  if (!at(b, i, K.at)) return undefined;
  const atStart = i + K.at.length;
  const atEnd = plainTextEnd(b, atStart, e);
  if (atEnd < 0 || !at(b, atEnd, K.type)) return undefined;
  const typeStart = atEnd + K.type.length;
  const typeEnd = plainTextEnd(b, typeStart, e);
  if (typeEnd < 0 || !typeShapeOk(b, typeStart, typeEnd) || !at(b, typeEnd, K.actor)) return undefined;
  const actorStart = typeEnd + K.actor.length;
  i = jsonObjectEnd(b, actorStart, e);
  if (i < 0) return undefined;
  const actorEnd = i;
  let subjectStart = -1;
  let subjectEnd = -1;
  let dataStart = -1;
  let dataEnd = -1;
  if (at(b, i, K.subject)) {
    subjectStart = i + K.subject.length;
    i = subjectEnd = jsonObjectEnd(b, subjectStart, e);
    if (i < 0) return undefined;
  }
  if (at(b, i, K.data)) {
    dataStart = i + K.data.length;
    i = dataEnd = jsonObjectEnd(b, dataStart, e);
    if (i < 0) return undefined;
  }
  if (!at(b, i, K.prev)) return undefined;
  const prevStart = i + K.prev.length;
  if (b.toString('latin1', prevStart, prevStart + 64) !== prev) return undefined;
  if (!at(b, prevStart + 64, K.hash)) return undefined;
  const hashStart = prevStart + 64 + K.hash.length;
  if (hashStart + 66 !== e || b[e - 2] !== 34 || b[e - 1] !== 125) return undefined;
  // Raw bytes are hashed as they are, so they must be the UTF-8 the writer produced from a JS string.
  if (scanState.sawNonAscii && !isUtf8(b.subarray(s, e))) return undefined;

  if (scratch.length < e - s + 256) scratch = new Uint8Array(2 * (e - s + 256));
  const d = scratch;
  const u = new Uint8Array(b.buffer, b.byteOffset, b.length);
  let n = copy(d, 0, u, prevStart, prevStart + 64);
  n = copyK(d, n, K.hActor);
  n = copy(d, n, u, actorStart, actorEnd);
  n = copyK(d, n, K.hAt);
  n = copy(d, n, u, atStart, atEnd);
  d[n++] = 34;
  if (dataStart >= 0) {
    n = copyK(d, n, K.hData);
    n = copy(d, n, u, dataStart, dataEnd);
  }
  n = copyK(d, n, K.hPrev);
  n = copy(d, n, u, prevStart, prevStart + 64);
  n = copyK(d, n, K.hSeq);
  n = copy(d, n, u, seqStart, seqEnd);
  if (subjectStart >= 0) {
    n = copyK(d, n, K.hSubject);
    n = copy(d, n, u, subjectStart, subjectEnd);
  }
  n = copyK(d, n, K.hType);
  n = copy(d, n, u, typeStart, typeEnd);
  n = copyK(d, n, K.hEnd);
  const hash = sha256hex(scratch.subarray(0, n));
  if (b.toString('latin1', hashStart, hashStart + 64) !== hash) return undefined;
  const checkpoint = typeEnd - typeStart === checkpointBytes.length && at(b, typeStart, checkpointBytes);
  const data = checkpoint && dataStart >= 0 ? b.toString('utf8', dataStart, dataEnd) : undefined;
  const auditType = at(b, typeStart, auditPrefix) ? b.toString('latin1', typeStart, typeEnd) : undefined;
  return { ok: true, seq, hash, checkpoint, data, auditType };
}
