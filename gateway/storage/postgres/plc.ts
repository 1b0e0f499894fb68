// PLC operations in PostgreSQL: append-only rows, every node's operations kept in memory like plc.jsonl's.
import type pg from 'pg';
import type { PlcOperationRecord } from '../../conduit/conduit.js';
import type { Logger } from '../../log.js';
import type { PlcPort } from '../port.js';
import { type AppendLogSpec, PgAppendLog } from './append-log.js';
import type { Listener } from './listen.js';
import { LOCKS } from './migrations.js';

const SPEC: AppendLogSpec = {
  table: 'gh_plc',
  channel: 'gatehouse_plc',
  lock: LOCKS.plc,
  closed: { code: 'plc_log_closed', message: 'the PLC operation log is closed' },
  name: 'PLC operation log',
};

/**
 * An operation is listed once its INSERT committed (as plc.jsonl lists it once fdatasync'd), so
 * GET /api/sessions/:id/plc and evidence packs list every node's operations whichever node serves them.
 */
export class PgPlc extends PgAppendLog<PlcOperationRecord> implements PlcPort {
  static open(o: { pool: pg.Pool; logger: Logger; listener?: Listener }): Promise<PgPlc> {
    return new PgPlc(SPEC, o.pool, o.logger).start(o.listener);
  }

  /** Every operation of a site's database, read once (offline evidence export). */
  static async read(pool: pg.Pool): Promise<PlcOperationRecord[]> {
    const r = await pool.query<{ record: PlcOperationRecord }>('SELECT record FROM gh_plc ORDER BY n');
    return r.rows.map((row) => Object.freeze(row.record));
  }
}
