// PLC operations in PostgreSQL: append-only rows, every node's operations kept in memory like plc.jsonl's.
import type pg from 'pg';
import type { PlcOperationRecord } from '../../conduit/record.js';
import { unavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { DATABASE_FAULT, storageUnavailable } from '../../storage-faults.js';
import type { PlcPort } from '../port.js';
import { inTransaction } from './connect.js';
import type { Listener } from './listen.js';
import { LOCKS } from './migrations.js';

/**
 * `records` shows an operation once its INSERT committed (as plc.jsonl shows it once fdatasync'd); rows other
 * nodes insert arrive through NOTIFY and a read of `n > last seen`, so GET /api/sessions/:id/plc and evidence
 * packs list every node's operations whichever node serves them.
 */
export class PgPlc implements PlcPort {
  private readonly list: PlcOperationRecord[] = [];
  private readonly ids = new Set<string>();
  private lastN = 0;
  private closing = false;
  private unlisten: (() => void) | undefined;
  private reading: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  static async open(o: { pool: pg.Pool; logger: Logger; listener?: Listener }): Promise<PgPlc> {
    const log = new PgPlc(o.pool, o.logger);
    await log.readNew();
    log.unlisten = o.listener?.on('gatehouse_plc', () => void log.readNew().catch(() => {}));
    return log;
  }

  /** Every operation of a site's database, read once (offline evidence export). */
  static async read(pool: pg.Pool): Promise<PlcOperationRecord[]> {
    const r = await pool.query<{ record: PlcOperationRecord }>('SELECT record FROM gh_plc ORDER BY n');
    return r.rows.map((row) => Object.freeze(row.record));
  }

  get records(): readonly PlcOperationRecord[] {
    return this.list;
  }

  async append(record: PlcOperationRecord): Promise<PlcOperationRecord> {
    if (this.closing) throw unavailable('plc_log_closed', 'the PLC operation log is closed');
    const r = Object.freeze({ ...record });
    try {
      // Inserts take turns (xact lock) so rows commit in `n` order: a reader at `n > last` never skips one.
      await inTransaction(this.pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.plc]);
        await c.query(
          `WITH ins AS (INSERT INTO gh_plc (id, record) VALUES ($1, $2::json) RETURNING n)
           SELECT pg_notify('gatehouse_plc', n::text) FROM ins`,
          [r.id, JSON.stringify(r)],
        );
      });
    } catch (err) {
      this.logger.error({ err: { message: (err as Error).message } }, 'PLC operation log write failed');
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
      const r = await this.pool.query<{ n: string; record: PlcOperationRecord }>(
        'SELECT n, record FROM gh_plc WHERE n > $1 ORDER BY n',
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
