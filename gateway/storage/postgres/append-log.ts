// An append-only table of JSON records (captured commands, PLC operations), every node's rows kept in memory
// in commit order, as the JSON-lines logs keep theirs on the file engine.
import type pg from 'pg';
import { type ErrorCode, unavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { DATABASE_FAULT, storageUnavailable } from '../../storage-faults.js';
import { inTransaction } from './connect.js';
import type { Channel, Listener } from './listen.js';

/** Which table, NOTIFY channel and insert lock a log uses, and how it names itself in refusals and logs. */
export interface AppendLogSpec {
  table: 'gh_commands' | 'gh_plc';
  channel: Extract<Channel, 'gatehouse_commands' | 'gatehouse_plc'>;
  lock: number;
  closed: { code: ErrorCode; message: string };
  /** "command log", "PLC operation log": for the error log line. */
  name: string;
}

/**
 * `records` shows a record once its INSERT committed; rows other nodes insert arrive through NOTIFY and a
 * read of `n > last seen`, so whichever node serves a page or a pack lists every node's records.
 */
export class PgAppendLog<T extends { id: string }> {
  private readonly list: T[] = [];
  private readonly ids = new Set<string>();
  private lastN = 0;
  private closing = false;
  private unlisten: (() => void) | undefined;
  private reading: Promise<void> | undefined;

  protected constructor(
    private readonly spec: AppendLogSpec,
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  /** Reads what is there, then follows other nodes' inserts. */
  protected async start(listener: Listener | undefined): Promise<this> {
    await this.readNew();
    this.unlisten = listener?.on(this.spec.channel, () => void this.readNew().catch(() => {}));
    return this;
  }

  get records(): readonly T[] {
    return this.list;
  }

  async append(record: T): Promise<T> {
    const { spec } = this;
    if (this.closing) throw unavailable(spec.closed.code, spec.closed.message);
    const r = Object.freeze({ ...record });
    try {
      // Inserts take turns (xact lock) so rows commit in `n` order: a reader at `n > last` never skips one.
      await inTransaction(this.pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [spec.lock]);
        await c.query(
          `WITH ins AS (INSERT INTO ${spec.table} (id, record) VALUES ($1, $2::json) RETURNING n)
           SELECT pg_notify($3, n::text) FROM ins`,
          [r.id, JSON.stringify(r), spec.channel],
        );
      });
    } catch (err) {
      this.logger.error({ err: { message: (err as Error).message } }, `${spec.name} write failed`);
      throw storageUnavailable(DATABASE_FAULT, err);
    }
    await this.readNew();
    return r;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.unlisten?.();
    await this.reading;
  }

  /** Reads rows past the last seen, one reader at a time so the list keeps insertion order. */
  private readNew(): Promise<void> {
    const run = async (): Promise<void> => {
      const r = await this.pool.query<{ n: string; record: T }>(
        `SELECT n, record FROM ${this.spec.table} WHERE n > $1 ORDER BY n`,
        [this.lastN],
      );
      for (const row of r.rows) {
        this.lastN = Math.max(this.lastN, Number(row.n));
        if (this.ids.has(row.record.id)) continue;
        this.ids.add(row.record.id);
        this.list.push(Object.freeze(row.record));
      }
    };
    const next = (this.reading ?? Promise.resolve()).then(run, run);
    this.reading = next;
    return next;
  }
}
