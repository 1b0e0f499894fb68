// The gateway's state (recordings/db.json, lowdb): one writer, serialised durable updates, a lock file.
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { type AuditInput, isAuditEventType } from './core/audit.js';
import { systemActor } from './core/model.js';
import { GatehouseError } from './errors.js';
import { type Logger, silentLogger } from './log.js';
import type { AuditJournal, AuditSink } from './audit-sink.js';
import { type StorageFaults, storageUnavailable } from './storage-faults.js';
import { deepFreeze } from './store/clone.js';
import { Draft, type DraftShape, retainWhere } from './store/draft.js';
import {
  DB_FILE,
  DurableJsonFile,
  loadDbText,
  readText,
  removeLeftoverTemps,
  serializeDb,
  writeFileDurably,
} from './store/file.js';
import { FileText } from './store/file-text.js';
import { dueForHistory, HISTORY_LISTS, HistoryFiles } from './store/history.js';
import { findBatch, type Intent, IntentFile, recordDigest, recordsAfter } from './store/intent.js';
import { StoreLock } from './store/lock.js';
import { COLLECTIONS, type DbData, emptyDb } from './store/schema.js';

export { StoreLockedError, StoreOpenError } from './store/errors.js';
export { type Migration, migrate, migrations } from './store/migrations.js';
export { CURRENT_SCHEMA_VERSION, type DbData, emptyDb, type WebSessionRecord } from './store/schema.js';
export type { AuditSink } from './audit-sink.js';

interface Job {
  fn: (draft: DbData, audit: AuditSink) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** `meta` key: the tx of the last batch whose state is in db.json (see store/intent.ts). */
export const AUDIT_TX = 'auditTx';
const AUDIT_FILE = 'audit.jsonl';

/** db.json's shape for drafts: lists of records, `meta`, a fixed schemaVersion; other keys are plain JSON. */
const LOWDB_SHAPE: DraftShape = {
  lists: COLLECTIONS,
  maps: ['meta'],
  fixed: ['schemaVersion'],
  extraKeys: true,
  requireIds: false,
};

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Records per move: each batch is one append and one update, so its event-loop hold stays small. */
const ARCHIVE_BATCH = 2000;

/** Which Store's update fn is running in this async context: a nested update would wait for itself. */
const insideUpdate = new AsyncLocalStorage<Store>();

export class Store {
  readonly dir: string;
  readonly file: string;
  private readonly db: Low<DbData>;
  private readonly lock: StoreLock;
  private readonly logger: Logger;
  private queue: Job[] = [];
  private draining: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** db.json's text from cached per-record texts (see store/file-text.ts). */
  private readonly text = new FileText(COLLECTIONS);
  private journal: AuditJournal | undefined;
  private intents: IntentFile | undefined;
  private faults: StorageFaults | undefined;
  /** The last intent written; resolved once its state is in db.json or its records are reverted. */
  private intent: Intent | undefined;
  private unresolved = false;

  /** Closed requests and ended sessions moved out of db.json (store/history.ts). */
  private readonly history: HistoryFiles;
  private archiving: Promise<unknown> | undefined;
  private archiveTimer: NodeJS.Timeout | undefined;

  private constructor(dir: string, db: Low<DbData>, lock: StoreLock, logger: Logger, history: HistoryFiles) {
    this.dir = dir;
    this.file = join(dir, DB_FILE);
    this.db = db;
    this.lock = lock;
    this.logger = logger;
    this.history = history;
  }

  /** Takes the folder's lock, loads (and if needed migrates) db.json. Refuses rather than guess. */
  static async open(opts: { dir: string; logger?: Logger }): Promise<Store> {
    const dir = resolve(opts.dir);
    const logger = opts.logger ?? silentLogger;
    await mkdir(dir, { recursive: true });
    const lock = await StoreLock.acquire(join(dir, `${DB_FILE}.lock`), dir, logger);
    try {
      // Safe only under the lock: no other writer can own these temp files now.
      const removed = await removeLeftoverTemps(dir);
      if (removed.length > 0) logger.warn({ dir, removed }, 'removed temp files left by an interrupted write');
      const file = join(dir, DB_FILE);
      const text = await readText(file);
      let data: DbData;
      if (text === null) {
        data = emptyDb();
        await writeFileDurably(file, serializeDb(data));
      } else {
        const loaded = loadDbText(text, file);
        data = loaded.data;
        if (loaded.from < data.schemaVersion) {
          // The untouched original goes to disk first: a bad migration must be recoverable.
          const backup = await freeBackupPath(file, loaded.from);
          await writeFileDurably(backup, text);
          await writeFileDurably(file, serializeDb(data));
          logger.warn({ file, from: loaded.from, to: data.schemaVersion, backup }, 'migrated db.json');
        }
      }
      const history = await HistoryFiles.load(dir, true);
      return new Store(dir, new Low(new DurableJsonFile(file), deepFreeze(data)), lock, logger, history);
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  /**
   * Connects the audit log the update fns' records go to, and repairs what a crash between an audit append
   * and its state write left: records of a change that never took effect get a `change.reverted` record.
   * Until this is called, an update that records anything is refused.
   */
  async attachAudit(journal: AuditJournal, faults?: StorageFaults): Promise<void> {
    this.journal = journal;
    this.faults = faults;
    this.intents ??= await IntentFile.open(this.dir);
    this.intent = await this.intents.read();
    this.unresolved = this.intent !== undefined && this.intent.tx > this.committedTx();
    await this.resolveIntent();
  }

  /** db.json as it is on disk with the history files, for read-only tools (evidence export): takes no lock. */
  static async readSnapshot(dir: string): Promise<DbData> {
    // The atomic rename in every write means a reader sees a whole old or a whole new file.
    const db = new Low(new DurableJsonFile(join(resolve(dir), DB_FILE)), emptyDb());
    await db.read();
    return (await HistoryFiles.load(resolve(dir), false)).withHistory(db.data);
  }

  /**
   * The last durably written state, deeply frozen: a change made here instead of through
   * `update` would skip the write (and could be lost or half-written), so it throws instead.
   */
  get data(): Readonly<DbData> {
    return this.db.data;
  }

  /** `data` with the requests and sessions moved to history/*.jsonl in front (see store/history.ts). */
  get withHistory(): Readonly<DbData> {
    return this.history.withHistory(this.db.data);
  }

  /**
   * Moves closed requests and ended sessions older than `afterDays` to the history files, in batches (each one
   * append, then one audited update removing them from db.json: `storage.archived`). Runs one at a time.
   */
  archive(o: { now: number; afterDays: number; batch?: number }): Promise<{ requests: number; sessions: number }> {
    const run = (this.archiving ?? Promise.resolve()).then(() => this.moveToHistory(o));
    this.archiving = run.catch(() => undefined);
    return run;
  }

  /** Archives now and then (first after `firstMs`, then every `everyMs`) until close; failures are logged. */
  startArchiving(o: { afterDays: number; now: () => number; everyMs?: number; firstMs?: number }): void {
    if (this.archiveTimer || this.closing) return;
    const tick = (next: number) => {
      this.archiveTimer = setTimeout(() => {
        this.archive({ now: o.now(), afterDays: o.afterDays })
          .catch((err: unknown) => this.logger.error({ err }, 'moving old requests and sessions to history failed'))
          .finally(() => {
            if (!this.closing) tick(o.everyMs ?? HOUR);
          });
      }, next);
      this.archiveTimer.unref();
    };
    tick(o.firstMs ?? MINUTE);
  }

  private async moveToHistory(o: {
    now: number;
    afterDays: number;
    batch?: number;
  }): Promise<{ requests: number; sessions: number }> {
    const cutoff = o.now - o.afterDays * DAY;
    const total = { requests: 0, sessions: 0 };
    for (;;) {
      if (this.closing) return total;
      const due = dueForHistory(this.db.data, cutoff, o.batch ?? ARCHIVE_BATCH);
      if (due.requests.length === 0 && due.sessions.length === 0) return total;
      // History first: a crash after this leaves the records in both places, never in neither.
      for (const list of HISTORY_LISTS)
        await this.history.append(
          list,
          due[list].filter((r) => !this.history.has(list, r)),
        );
      const moved = await this.update((d, audit) => {
        const n = { requests: 0, sessions: 0 };
        for (const list of HISTORY_LISTS) {
          const ids = new Map<string, object>(due[list].map((r) => [r.id, r]));
          // Only the record that was appended: one changed since stays (and moves, as it is then, next time).
          n[list] = retainWhere(d[list] as Array<{ id: string }>, (r) => ids.get(r.id) !== r);
        }
        if (n.requests + n.sessions > 0)
          audit.record({
            type: 'storage.archived',
            actor: systemActor('gateway'),
            data: { ...n, olderThan: new Date(cutoff).toISOString(), afterDays: o.afterDays },
          });
        return n;
      });
      total.requests += moved.requests;
      total.sessions += moved.sessions;
      if (moved.requests + moved.sessions === 0) return total;
      // Between batches, the rest of the gateway goes first.
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Runs `fn` with exclusive write access on a draft, then resolves once a write containing the
   * change is fsync'd. If `fn` throws nothing changes. Do not call `update` from inside `fn`
   * (it would wait for itself) and keep `fn` short: every other writer waits for it.
   */
  update<T>(fn: (draft: DbData, audit: AuditSink) => T | Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new GatehouseError('unavailable', 'storage_closed', 'store is closed'));
    if (insideUpdate.getStore() === this)
      return Promise.reject(new Error('Store.update called from inside an update fn; it would deadlock'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.draining ??= this.drain();
    });
  }

  /** Drains the queue, then releases the lock. Idempotent; updates after this are refused. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.archiveTimer);
      await this.archiving;
      while (this.draining) await this.draining;
      await this.intents?.close().catch(() => {});
      await this.lock.release();
    })();
    return this.closing;
  }

  private async drain(): Promise<void> {
    // One tick's grace so updates queued together share one write (group commit).
    await Promise.resolve();
    try {
      while (this.queue.length > 0) await this.commit(this.queue.splice(0));
    } finally {
      this.draining = null;
    }
  }

  /**
   * Applies a batch in order, writes once, then settles each caller (group commit). Each fn gets its own
   * copy-on-write draft (store/draft.ts) over the state the previous fn left: records are copied when the fn
   * reaches them, and only those are compared, copied fresh (proving them plain JSON) and frozen, so an fn that
   * throws halfway leaves no trace and an update costs what it touches, not the whole db. db.json's text is
   * assembled from cached per-record texts (store/file-text.ts).
   *
   * Audit first, then state: the batch's records are appended (fsync'd) before db.json is written, under a
   * record of intent (store/intent.ts). If the records cannot be written nothing changes; if the state
   * cannot be written, a `change.reverted` record says so. Either way the callers get 503 storage_unavailable.
   */
  private async commit(batch: Job[]): Promise<void> {
    let state: DbData = this.db.data; // the state after the last successful fn: the fallback
    const applied: Array<{ job: Job; value: unknown }> = [];
    const inputs: AuditInput[] = [];
    for (const job of batch) {
      const draft = new Draft(state, LOWDB_SHAPE);
      const recorded: AuditInput[] = [];
      const sink: AuditSink = { record: (input) => void recorded.push(checkedInput(input)) };
      try {
        const value = await insideUpdate.run(this, () => job.fn(draft.root, sink));
        state = draft.finish().state; // throws if fn left a cycle or a BigInt: its own failure
        applied.push({ job, value });
        inputs.push(...recorded);
      } catch (e) {
        job.reject(e);
      }
    }
    if (applied.length === 0) return;
    const fail = (err: unknown) => {
      for (const a of applied) a.job.reject(err);
    };
    let records: { firstSeq: number; lastSeq: number } | undefined;
    if (inputs.length > 0) {
      try {
        records = await this.appendRecords(inputs);
      } catch (e) {
        return fail(e);
      }
      const meta = Object.freeze({ ...state.meta, [AUDIT_TX]: this.intent!.tx });
      state = Object.freeze({ ...state, meta });
    }
    try {
      await writeFileDurably(this.file, this.text.of(state));
    } catch (e) {
      // Memory stays at the last durable state; the queue goes on with the next batch.
      this.logger.error({ err: e, file: this.file }, 'could not write db.json');
      this.faults?.report(this.file, e);
      if (records) await this.revert(records, e);
      return fail(storageUnavailable(this.file, e));
    }
    this.faults?.clear(this.file);
    if (records) this.unresolved = false;
    this.db.data = state;
    for (const a of applied) a.job.resolve(a.value);
  }

  private committedTx(): number {
    const tx = this.db.data.meta[AUDIT_TX];
    return typeof tx === 'number' ? tx : 0;
  }

  /** Intent, then the records (contiguous in the chain: appended in one synchronous loop), all durable. */
  private async appendRecords(inputs: AuditInput[]): Promise<{ firstSeq: number; lastSeq: number }> {
    const journal = this.journal;
    if (!journal || !this.intents)
      throw new GatehouseError(
        'internal',
        'store_without_audit',
        'the store has no audit log to record this change in',
      );
    if (journal.failure) throw this.auditFault(journal.failure);
    await this.resolveIntent();
    const intent: Intent = {
      tx: Math.max(this.committedTx(), this.intent?.tx ?? 0) + 1,
      afterSeq: journal.head().seq,
      digests: inputs.map(recordDigest),
    };
    try {
      await this.intents.write(intent);
    } catch (e) {
      this.faults?.report(this.file, e);
      throw storageUnavailable(this.file, e);
    }
    this.intent = intent;
    this.unresolved = true;
    let written;
    try {
      written = await Promise.all(inputs.map((input) => journal.append(input)));
    } catch (e) {
      // Some of them may be on disk (a checkpoint splits a write): resolveIntent finds and reverts them once the log recovers.
      throw this.auditFault(e);
    }
    return { firstSeq: written[0]!.seq, lastSeq: written.at(-1)!.seq };
  }

  private auditFault(err: unknown): GatehouseError {
    this.faults?.report(AUDIT_FILE, err);
    return storageUnavailable(AUDIT_FILE, err);
  }

  /** Says in the audit log that records firstSeq..lastSeq describe a change that did not take effect. */
  private async revert(records: { firstSeq: number; lastSeq: number }, why: unknown): Promise<void> {
    try {
      await this.journal!.append({
        type: 'change.reverted',
        actor: systemActor('gateway'),
        data: { ...records, tx: this.intent!.tx, reason: 'state_write_failed', error: errorCode(why) },
      });
      this.unresolved = false;
    } catch (e) {
      this.logger.error(
        { err: e },
        'could not record that a change did not take effect; retried before the next change',
      );
    }
  }

  /**
   * An intent whose state never reached db.json (a crash, or a failed write whose revert could not be
   * recorded): finds its records in audit.jsonl and reverts them, once. Idempotent: a revert already
   * recorded is found in the same scan.
   */
  private async resolveIntent(): Promise<void> {
    const intent = this.intent;
    if (!this.unresolved || !intent || !this.journal) return;
    if (intent.tx <= this.committedTx()) {
      this.unresolved = false;
      return;
    }
    const after = await recordsAfter(join(this.dir, AUDIT_FILE), intent.afterSeq);
    const found = findBatch(after, intent.digests);
    const firstSeq = found[0]?.seq;
    const reverted = after.some((r) => r.type === 'change.reverted' && r.data?.firstSeq === firstSeq);
    if (firstSeq !== undefined && !reverted) {
      const data = { firstSeq, lastSeq: found.at(-1)!.seq, tx: intent.tx, reason: 'state_not_written' };
      this.logger.warn(
        data,
        'audit records of a change that never reached db.json: recording that it did not take effect',
      );
      await this.journal.append({ type: 'change.reverted', actor: systemActor('gateway'), data });
    }
    this.unresolved = false;
  }
}

/** Checked when recorded, so a bad record fails its own fn, not the whole batch at append time. */
function checkedInput(input: AuditInput): AuditInput {
  if (!isAuditEventType(input.type)) throw new TypeError(`unknown audit event type: ${String(input.type)}`);
  return input;
}

function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'error';
}

/** `db.json.v<N>.bak`, or `db.json.v<N>-2.bak` … if an earlier migration's backup is there: never overwrite one. */
async function freeBackupPath(file: string, version: number): Promise<string> {
  for (let i = 1; ; i++) {
    const candidate = `${file}.v${version}${i === 1 ? '' : `-${i}`}.bak`;
    const exists = await stat(candidate).then(
      () => true,
      () => false,
    );
    if (!exists) return candidate;
  }
}

export { deepFreeze, sameJson } from './store/clone.js';
export {
  byId,
  Draft,
  type DraftShape,
  findById,
  type Finished,
  idIndexOf,
  isSharedList,
  shareIdIndex,
  sharedList,
  sharedWith,
} from './store/draft.js';
export { DEFAULT_HISTORY_AFTER_DAYS } from './store/history.js';
export { COLLECTIONS, COMMANDS_TO_MOVE } from './store/schema.js';
