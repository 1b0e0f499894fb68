// The state in PostgreSQL, with a per-node cache the gateway reads synchronously (`data`).
//
// Why a cache: the gateway reads `store.data` synchronously in many places, and a relay must never wait
// on the database. Why it stays correct with several nodes: every update runs in one transaction that
// first locks the gh_state_version row, so writers of all nodes take turns; under that lock the node
// catches up with rows other nodes wrote (version > its own), applies fn to a copy-on-write draft of the
// now-current state (store/draft.ts), writes the rows of the records fn changed, chains fn's audit records (PgAudit.chainIn, same transaction)
// and bumps the version. A check made inside fn therefore sees every earlier commit of every node: two
// racing approvals on two nodes end in one final state. Readers between updates may lag other nodes by
// one NOTIFY (milliseconds), and at most one sweep (a second) when a NOTIFY is lost: every node's sweep asks for
// the version (`refresh`); nothing decides on a stale read without going through update.
import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import type { AuditInput } from '../../core/audit.js';
import { GatehouseError, isGatehouseError, unavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { COLLECTIONS, type DbData, deepFreeze, Draft, idIndexOf } from '../../store.js';
import type { AuditSink, StatePort } from '../port.js';
import type { Chained, PgAudit } from './audit.js';
import { checkout } from './connect.js';
import type { Listener } from './listen.js';
import { applyRows, PG_SHAPE, type Row, rowsOf, stateFromRows } from './rows.js';

interface Job {
  run: () => Promise<void>;
}

const insideUpdate = new AsyncLocalStorage<PgState>();
const POLL_TIMEOUT_MS = 5000;

export class PgState implements StatePort {
  private state: Readonly<DbData>;
  private version: number;
  private queue: Job[] = [];
  private draining: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private unlisten: (() => void) | undefined;
  /** Called after the cache took in another node's commit (keys changed). */
  onRemoteChange: ((changed: ReadonlySet<string>) => void) | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly audit: PgAudit,
    private readonly logger: Logger,
    loaded: { state: DbData; version: number },
  ) {
    this.state = deepFreeze(loaded.state);
    this.version = loaded.version;
    // Built now, not by the first update that adds a record: that one would hold the event loop for it.
    for (const key of COLLECTIONS) idIndexOf(this.state[key]);
  }

  static async open(o: { pool: pg.Pool; audit: PgAudit; logger: Logger; listener?: Listener }): Promise<PgState> {
    const client = await checkout(o.pool);
    let loaded: { state: DbData; version: number };
    try {
      // One snapshot for the version and the rows, so neither is newer than the other.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const v = await client.query<{ version: string }>('SELECT version FROM gh_state_version WHERE id = 1');
      const rows = await client.query<{ collection: string; doc: unknown }>(
        'SELECT collection, doc FROM gh_rows WHERE doc IS NOT NULL ORDER BY pos',
      );
      await client.query('COMMIT');
      loaded = { state: stateFromRows(rows.rows), version: Number(v.rows[0]!.version) };
    } finally {
      client.release();
    }
    const s = new PgState(o.pool, o.audit, o.logger, loaded);
    s.unlisten = o.listener?.on('gatehouse_state', (payload) => {
      if (payload === undefined || Number(payload) > s.version) s.enqueue(() => s.catchUp(s.pool));
    });
    return s;
  }

  get data(): Readonly<DbData> {
    return this.state;
  }

  /** PostgreSQL keeps all of it in rows: nothing moves to history files. */
  get withHistory(): Readonly<DbData> {
    return this.state;
  }

  /** The version of the state this node holds (tests and the bench). */
  get currentVersion(): number {
    return this.version;
  }

  update<T>(fn: (draft: DbData, audit: AuditSink) => T | Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new GatehouseError('unavailable', 'storage_closed', 'store is closed'));
    if (insideUpdate.getStore() === this)
      return Promise.reject(new Error('Store.update called from inside an update fn; it would deadlock'));
    return new Promise<T>((resolve, reject) => {
      this.enqueue(async () => {
        try {
          resolve(await this.transact(fn));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /**
   * Catches up with other nodes now: a lookup that missed, and every node's sweep (a LISTEN connection can die
   * without an error, and its notifications with it). One `SELECT version` when nothing changed; the rows if it did.
   */
  refresh(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.enqueue(() => this.poll().then(resolve, reject)));
  }

  private async poll(): Promise<void> {
    // Bounded (query_timeout, honoured by pg but missing from its types): a database that hangs must not hold the
    // queue, and with it every update, until the socket times out.
    const r = await this.pool.query<{ version: string }>({
      text: 'SELECT version FROM gh_state_version WHERE id = 1',
      query_timeout: POLL_TIMEOUT_MS,
    } as pg.QueryConfig);
    const v = Number(r.rows[0]!.version);
    if (v > this.version) await this.catchUp(this.pool, v);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.unlisten?.();
      while (this.draining) await this.draining;
    })();
    return this.closing;
  }

  private enqueue(run: () => Promise<void>): void {
    this.queue.push({ run });
    this.draining ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const job = this.queue.shift()!;
        await job.run().catch((err: unknown) => this.logger.error({ err }, 'postgres state: a queued job failed'));
      }
    } finally {
      this.draining = null;
    }
  }

  /** Applies rows other nodes committed since this node's version. */
  private async catchUp(db: pg.Pool | pg.PoolClient, known?: number): Promise<void> {
    const r = await db.query<{ collection: string; id: string; doc: unknown; version: string }>(
      `SELECT collection, id, doc, version FROM gh_rows WHERE version > $1 ORDER BY pos`,
      [this.version],
    );
    if (r.rows.length === 0) {
      if (known !== undefined) this.version = known;
      return;
    }
    const { next, changed } = applyRows(this.state, r.rows);
    for (const key of changed) deepFreeze((next as unknown as Record<string, unknown>)[key]);
    this.state = Object.freeze(next);
    this.version = Math.max(known ?? 0, ...r.rows.map((x) => Number(x.version)));
    this.onRemoteChange?.(changed);
  }

  private async transact<T>(fn: (draft: DbData, audit: AuditSink) => T | Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await checkout(this.pool);
    } catch (err) {
      throw this.failure(err);
    }
    let chained: Chained | undefined;
    try {
      await client.query('BEGIN');
      const v = Number(
        (await client.query<{ version: string }>('SELECT version FROM gh_state_version WHERE id = 1 FOR UPDATE'))
          .rows[0]!.version,
      );
      if (v !== this.version) await this.catchUp(client, v);
      const draft = new Draft(this.state, PG_SHAPE);
      const records: AuditInput[] = [];
      const sink: AuditSink = { record: (input) => void records.push(input) };
      const value = await insideUpdate.run(this, () => fn(draft.root, sink));
      const done = draft.finish();
      const rows = rowsOf(done);
      if (rows.length === 0 && records.length === 0) {
        await client.query('ROLLBACK');
        return value;
      }
      const version = v + 1;
      if (rows.length > 0) await writeRows(client, rows, version);
      if (records.length > 0) chained = await this.audit.chainIn(client, records);
      await client.query('UPDATE gh_state_version SET version = $1 WHERE id = 1', [version]);
      await client.query('SELECT pg_notify($1, $2)', ['gatehouse_state', String(version)]);
      await client.query('COMMIT');
      if (chained) this.audit.committed(chained);
      this.state = done.state;
      this.version = version;
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (isGatehouseError(err) || !isDatabaseError(err)) throw err;
      throw this.failure(err);
    } finally {
      client.release();
    }
  }

  private failure(err: unknown): GatehouseError {
    this.logger.error({ err: { message: (err as Error).message } }, 'postgres state: the update could not be written');
    return unavailable('storage_write_failed', 'the state could not be written to PostgreSQL', err);
  }
}

/** Errors from pg or the network (not a refusal thrown by the update fn itself). */
function isDatabaseError(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown; syscall?: unknown } | null;
  return (
    e !== null &&
    typeof e === 'object' &&
    (typeof e.severity === 'string' || typeof e.syscall === 'string' || e.code === 'ECONNREFUSED')
  );
}

/** One statement for the upserts and one for the deletions (tombstones), however many rows. */
async function writeRows(client: pg.PoolClient, rows: readonly Row[], version: number): Promise<void> {
  const live = rows.filter((r) => r.doc !== undefined);
  const gone = rows.filter((r) => r.doc === undefined);
  if (live.length > 0)
    await client.query(
      `INSERT INTO gh_rows (collection, id, doc, pos, version)
       SELECT c, i, d::json, nextval('gh_row_pos'), $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, i, d)
       ON CONFLICT (collection, id) DO UPDATE SET doc = excluded.doc, version = excluded.version`,
      [live.map((r) => r.collection), live.map((r) => r.id), live.map((r) => r.doc), version],
    );
  if (gone.length > 0)
    await client.query(
      `UPDATE gh_rows SET doc = NULL, version = $3
       FROM unnest($1::text[], $2::text[]) AS t(c, i) WHERE collection = t.c AND id = t.i`,
      [gone.map((r) => r.collection), gone.map((r) => r.id), version],
    );
}
