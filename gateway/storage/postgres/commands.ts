// Captured commands in PostgreSQL: append-only rows, every node's commands kept in memory like commands.jsonl's.
import type pg from 'pg';
import type { CommandRecord } from '../../core/model.js';
import type { Logger } from '../../log.js';
import type { CommandPort } from '../port.js';
import { type AppendLogSpec, PgAppendLog } from './append-log.js';
import type { Listener } from './listen.js';
import { LOCKS } from './migrations.js';

const SPEC: AppendLogSpec = {
  table: 'gh_commands',
  channel: 'gatehouse_commands',
  lock: LOCKS.commands,
  closed: { code: 'commands_closed', message: 'the command log is closed' },
  name: 'command log',
};

/** The library and evidence tables list every node's commands. */
export class PgCommands extends PgAppendLog<CommandRecord> implements CommandPort {
  static open(o: { pool: pg.Pool; logger: Logger; listener?: Listener }): Promise<PgCommands> {
    return new PgCommands(SPEC, o.pool, o.logger).start(o.listener);
  }
}
