// Reads the audit trail for the auditor's page: newest first, filtered, paged, straight from audit.jsonl (read-only).
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_FILE } from '../audit/audit.js';
import type { AuditRecord } from '../core/audit.js';

export interface AuditFilter {
  from?: number;
  to?: number;
  types?: string[];
  /** `session.` matches every session.* type. */
  typePrefixes?: string[];
  /** Types left out (the page hides checkpoints unless asked). */
  excludeTypes?: string[];
  /** A user id or e-mail (exact, case-insensitive), or part of a display name. */
  actor?: string;
  target?: string;
  session?: string;
  /** Only records with seq below this (the next page of a newest-first listing). */
  before?: number;
  limit?: number;
}

export interface AuditPage {
  records: AuditRecord[];
  /** Pass as `before` for the next (older) page; null when the start of the log was reached. */
  nextBefore: number | null;
}

/** Where the lines are: a storage folder's audit.jsonl, or an engine's own reader (PostgreSQL). */
export type AuditSource = string | (() => AsyncIterable<Buffer>);

const backward = (source: AuditSource): AsyncIterable<Buffer> =>
  typeof source === 'string' ? linesBackward(join(source, LOG_FILE)) : source();

const CHUNK = 256 * 1024;
/** No record is near this; a longer "line" is skipped as garbage rather than held in memory. */
const MAX_LINE = 16 << 20;

/**
 * Yields the complete lines of `path` from the last to the first. A last line without its newline is
 * a write in progress (or a crash's torn line) and is not yielded.
 */
export async function* linesBackward(path: string): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    let pos = (await fh.stat()).size;
    let tail = Buffer.alloc(0);
    let sawEnd = false;
    while (pos > 0) {
      const start = Math.max(0, pos - CHUNK);
      const buf = Buffer.allocUnsafe(pos - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      const chunk = tail.length > 0 ? Buffer.concat([buf.subarray(0, bytesRead), tail]) : buf.subarray(0, bytesRead);
      pos = start;
      let end = chunk.length;
      if (!sawEnd) {
        const nl = chunk.lastIndexOf(10);
        if (nl < 0) {
          tail = tail.length + chunk.length > MAX_LINE ? Buffer.alloc(0) : Buffer.from(chunk);
          continue;
        }
        sawEnd = true;
        end = nl;
      }
      // Note Buffer#lastIndexOf reads a negative offset from the end, so end === 0 is checked first.
      for (
        let nl = end > 0 ? chunk.lastIndexOf(10, end - 1) : -1;
        nl >= 0;
        nl = end > 0 ? chunk.lastIndexOf(10, end - 1) : -1
      ) {
        if (end > nl + 1) yield chunk.subarray(nl + 1, end);
        end = nl;
      }
      tail = end > MAX_LINE ? Buffer.alloc(0) : Buffer.from(chunk.subarray(0, end));
    }
    if (sawEnd && tail.length > 0) yield tail;
  } finally {
    await fh.close();
  }
}

function actorMatches(actor: AuditRecord['actor'], q: string): boolean {
  const a = actor as { id?: string; email?: string; name?: string };
  const lq = q.toLowerCase();
  return a.id === q || a.email?.toLowerCase() === lq || (a.name?.toLowerCase().includes(lq) ?? false);
}

export function recordMatches(r: AuditRecord, f: AuditFilter): boolean {
  if (f.before !== undefined && r.seq >= f.before) return false;
  if (f.excludeTypes?.includes(r.type)) return false;
  const typed = (f.types?.length ?? 0) + (f.typePrefixes?.length ?? 0) > 0;
  if (typed && !f.types?.includes(r.type) && !f.typePrefixes?.some((p) => r.type.startsWith(p))) return false;
  const at = Date.parse(r.at);
  if (f.from !== undefined && at < f.from) return false;
  if (f.to !== undefined && at >= f.to) return false;
  if (f.actor !== undefined && !actorMatches(r.actor, f.actor)) return false;
  if (f.target !== undefined && r.subject?.targetId !== f.target) return false;
  if (f.session !== undefined && r.subject?.sessionId !== f.session) return false;
  return true;
}

function parse(line: Buffer): AuditRecord | undefined {
  try {
    const r = JSON.parse(line.toString('utf8')) as AuditRecord;
    return typeof r?.seq === 'number' && typeof r.type === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The newest `limit` records (default 100) matching `f`. Reads from the end and stops once the page is
 * full, so recent pages cost little however long the log is. This is a reader, not the verifier: a
 * line that does not parse is skipped here, and GET /api/audit/verify says whether the chain holds.
 */
export async function queryAudit(source: AuditSource, f: AuditFilter): Promise<AuditPage> {
  const limit = f.limit ?? 100;
  const records: AuditRecord[] = [];
  let more = false;
  try {
    for await (const line of backward(source)) {
      const r = parse(line);
      if (!r || !recordMatches(r, f)) continue;
      if (records.length === limit) {
        more = true;
        break;
      }
      records.push(r);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { records, nextBefore: more ? records[records.length - 1]!.seq : null };
}

/** The record with this seq, looked for from the end (checkpoints asked for are the recent ones). */
export async function findAuditRecord(source: AuditSource, seq: number): Promise<AuditRecord | undefined> {
  for await (const line of backward(source)) {
    const r = parse(line);
    if (r?.seq === seq) return r;
    if (r && r.seq < seq) return undefined;
  }
  return undefined;
}
