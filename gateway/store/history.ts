// Closed requests and ended sessions older than storage.historyAfterDays live in append-only files,
// history/requests.jsonl and history/sessions.jsonl in storage.dir, one record a line, instead of db.json.
// Why: db.json is rewritten whole on every change, so its size is a cost every update pays; the history only
// grows and never changes, so it goes where an append costs its own size. Readers (the session library, the
// request list, evidence packs, replay) see both through `withHistory`.
//
// The move, crash-safe: the records are appended (fsync'd) first, then removed from db.json by an audited update.
// A crash between the two leaves a record in both; the live one wins wherever both are read, and the next move
// removes it from db.json without appending it again (it is in history already, unchanged). A crash mid-append
// leaves a partial last line, cut off when the store next opens. So a record is never lost and never listed twice.
import { mkdir, open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessRequest, SessionRecord } from '../core/model.js';
import { deepFreeze, sameJson } from './clone.js';
import { StoreOpenError } from './errors.js';
import { syncDir } from './file.js';
import type { DbData } from './schema.js';

export const HISTORY_DIR = 'history';
export const HISTORY_LISTS = ['requests', 'sessions'] as const;
export type HistoryList = (typeof HISTORY_LISTS)[number];

/** Days after which a closed request or ended session moves to history (storage.historyAfterDays). */
export const DEFAULT_HISTORY_AFTER_DAYS = 30;

type Rec = { id: string };

/** Requests that can change no more: decided against, withdrawn, expired, revoked, or approved with the window over. */
const FINAL: ReadonlySet<string> = new Set(['denied', 'cancelled', 'expired', 'revoked']);

export class HistoryFiles {
  /** Per list, id → record (frozen); a later line of the same id wins. */
  private readonly records: Record<HistoryList, Map<string, Rec>> = { requests: new Map(), sessions: new Map() };
  private merged: { state: DbData; version: number; value: DbData } | undefined;
  private version = 0;

  private constructor(private readonly dir: string) {}

  /**
   * Reads both files. With `repair` (only under the store's lock) a partial last line — a crash mid-append — is
   * cut off; without it (read-only tools) it is skipped. A bad line elsewhere refuses, as db.json junk does.
   */
  static async load(storageDir: string, repair: boolean): Promise<HistoryFiles> {
    const h = new HistoryFiles(join(storageDir, HISTORY_DIR));
    for (const list of HISTORY_LISTS) {
      const file = h.file(list);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const end = text.lastIndexOf('\n') + 1;
      if (end < text.length && repair) await truncate(file, Buffer.byteLength(text.slice(0, end)));
      const lines = text.slice(0, end).split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (lines[i] === '') continue;
        let rec: unknown;
        try {
          rec = JSON.parse(lines[i]!);
        } catch (e) {
          throw new StoreOpenError(
            'storage_corrupt',
            `${file} line ${i + 1} is not valid JSON (${(e as Error).message}); refusing to start so it is not lost: restore it from a backup`,
            e,
          );
        }
        if (typeof (rec as Partial<Rec> | null)?.id !== 'string')
          throw new StoreOpenError('storage_corrupt', `${file} line ${i + 1} is not a record with an id`);
        h.records[list].set((rec as Rec).id, deepFreeze(rec as Rec));
      }
    }
    return h;
  }

  file(list: HistoryList): string {
    return join(this.dir, `${list}.jsonl`);
  }

  count(list: HistoryList): number {
    return this.records[list].size;
  }

  /** Whether `rec` is in history as it is (the live record may have changed since it was appended). */
  has(list: HistoryList, rec: Rec): boolean {
    const h = this.records[list].get(rec.id);
    return h !== undefined && (h === rec || sameJson(h, rec));
  }

  /** Appends the records in one write, durably, then holds them in memory. */
  async append(list: HistoryList, recs: readonly Rec[]): Promise<void> {
    if (recs.length === 0) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const fh = await open(this.file(list), 'a', 0o600);
    try {
      await fh.write(recs.map((r) => `${JSON.stringify(r)}\n`).join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await syncDir(this.dir);
    for (const r of recs) this.records[list].set(r.id, r);
    this.version++;
  }

  /**
   * The state with the history added in front of each list (it is older). A record in both (a move cut short)
   * is listed once, as the live one. Cached until the state or the history changes.
   */
  withHistory(state: DbData): DbData {
    if (this.records.requests.size === 0 && this.records.sessions.size === 0) return state;
    const m = this.merged;
    if (m && m.state === state && m.version === this.version) return m.value;
    const value = Object.freeze({
      ...state,
      requests: merge(this.records.requests, state.requests) as AccessRequest[],
      sessions: merge(this.records.sessions, state.sessions) as SessionRecord[],
    });
    this.merged = { state, version: this.version, value };
    return value;
  }
}

function merge(history: ReadonlyMap<string, Rec>, live: readonly Rec[]): readonly Rec[] {
  const liveIds = new Set(live.map((r) => r.id));
  const out: Rec[] = [];
  for (const [id, r] of history) if (!liveIds.has(id)) out.push(r);
  for (const r of live) out.push(r);
  return Object.freeze(out);
}

/** The records of `state` due to move: closed or ended before `cutoff` (ms), at most `limit` of them. */
export function dueForHistory(
  state: DbData,
  cutoff: number,
  limit: number,
): { requests: AccessRequest[]; sessions: SessionRecord[] } {
  const before = (iso: string | undefined) => iso !== undefined && Date.parse(iso) < cutoff;
  const sessions: SessionRecord[] = [];
  const open = new Set<string>();
  for (const s of state.sessions) {
    if (!s.endedAt) open.add(s.requestId);
    else if (sessions.length < limit && before(s.endedAt)) sessions.push(s);
  }
  const requests: AccessRequest[] = [];
  for (const r of state.requests) {
    if (requests.length >= limit) break;
    const closed = FINAL.has(r.state) || (r.state === 'approved' && before(r.endsAt));
    if (closed && before(r.updatedAt) && before(r.endsAt) && !open.has(r.id)) requests.push(r);
  }
  return { requests, sessions };
}
