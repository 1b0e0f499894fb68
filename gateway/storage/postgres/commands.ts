// Captured commands in PostgreSQL: append-only rows, every node's commands kept in memory like commands.jsonl's.
import type pg from 'pg';
import type { CommandRecord } from '../../core/model.js';
import { unavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import { DATABASE_FAULT, storageUnavailable } from '../../storage-faults.js';
import type { CommandPort } from '../port.js';
import { inTransaction } from './connect.js';
import type { Listener } from './listen.js';
import { LOCKS } from './migrations.js';

/**
 * `records` shows a command once its INSERT committed; rows other nodes insert arrive through NOTIFY and
 * a read of `n > last seen`, so the library and evidence tables list every node's commands.
 */
export class PgCommands implements CommandPort {
  private readonly list: CommandRecord[] = [];
  private readonly ids = new Set<string>();
  private lastN = 0;
  private closing = false;
  private unlisten: (() => void) | undefined;
  private reading: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  static async open(o: { pool: pg.Pool; logger: Logger; listener?: Listener }): Promise<PgCommands> {
    const log = new PgCommands(o.pool, o.logger);
    await log.readNew();
    log.unlisten = o.listener?.on('gatehouse_commands', () => void log.readNew().catch(() => {}));
    return log;
  }

  get records(): readonly CommandRecord[] {
    return this.list;
  }

  async append(record: CommandRecord): Promise<CommandRecord> {
    if (this.closing) throw unavailable('commands_closed', 'the command log is closed');
    const r = Object.freeze({ ...record });
    try {
      // Inserts take turns (xact lock) so rows commit in `n` order: a reader at `n > last` never skips one.
      await inTransaction(this.pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.commands]);
        await c.query(
          `WITH ins AS (INSERT INTO gh_commands (id, record) VALUES ($1, $2::json) RETURNING n)
           SELECT pg_notify('gatehouse_commands', n::text) FROM ins`,
          [r.id, JSON.stringify(r)],
        );
      });
    } catch (err) {
      this.logger.error({ err: { message: (err as Error).message } }, 'command log write failed');
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
      const r = await this.pool.query<{ n: string; record: CommandRecord }>(
        'SELECT n, record FROM gh_commands WHERE n > $1 ORDER BY n',
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
