// Opens the PostgreSQL engine: pool, migrations, the LISTEN connection, then the audit chain, state and commands.
import type pg from 'pg';
import { keyCopyInStorage, loadOrCreateSigningKey } from '../../audit/audit.js';
import type { Clock } from '../../clock.js';
import { unavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Storage } from '../port.js';
import { PgAudit } from './audit.js';
import { PgCommands } from './commands.js';
import { checkout, createPool, poolOptions, type PostgresConfig } from './connect.js';
import { Listener } from './listen.js';
import { migrateDatabase } from './migrations.js';
import { PgPlc } from './plc.js';
import { PgSyslogBacklog } from './syslog.js';
import { PgState } from './state.js';

export interface PostgresOpenOptions {
  postgres: PostgresConfig;
  /** Holds keys/ (the audit signing key every node shares) and sessions/ (recordings). */
  storageDir: string;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  /** audit.signingKey's file (absolute): the key kept outside the storage folder; default `<storageDir>/keys/`. */
  signingKeyFile?: string;
  cwd?: string;
  checkpointEvery?: number;
  checkpointIntervalMs?: number;
}

export interface PostgresStorage extends Storage {
  engine: 'postgres';
  state: PgState;
  audit: PgAudit;
  commands: PgCommands;
  plc: PgPlc;
  pool: pg.Pool;
  listener: Listener;
  probe(): Promise<void>;
  syslogBacklog(destination: string): PgSyslogBacklog;
}

const PROBE_TIMEOUT_MS = 5000;

/** Applies pending migrations (under an advisory lock) and opens every part; closes what it opened on failure. */
export async function openPostgres(o: PostgresOpenOptions): Promise<PostgresStorage> {
  const options = poolOptions(o.postgres, o.cwd ? { cwd: o.cwd } : {});
  const pool = createPool(options, o.logger);
  const opened: Array<{ close(): Promise<void> }> = [];
  try {
    const client = await checkout(pool);
    try {
      const m = await migrateDatabase(client);
      if (m.from !== m.to) o.logger.info(m, 'postgres: applied schema migrations');
    } finally {
      client.release();
    }
    const listener = new Listener(options, o.logger);
    await listener.start();
    opened.push(listener);
    const key = await loadOrCreateSigningKey(o.storageDir, o.signingKeyFile);
    // As on lowdb: a key kept elsewhere is worth nothing while a copy of it lies in the storage folder.
    if (await keyCopyInStorage(o.storageDir, o.signingKeyFile))
      throw unavailable(
        'audit_key_copy',
        'a copy of the audit signing key is still in <storage>/keys/audit-ed25519.pem although audit.signingKey names another file: delete it, or whoever reads the storage folder can re-sign the log',
      );
    const audit = await PgAudit.open({
      pool,
      key,
      ...(o.signingKeyFile !== undefined && { signingKeyFile: o.signingKeyFile }),
      clock: o.clock,
      logger: o.logger,
      nodeId: o.nodeId,
      ...(o.checkpointEvery !== undefined && { checkpointEvery: o.checkpointEvery }),
      ...(o.checkpointIntervalMs !== undefined && { checkpointIntervalMs: o.checkpointIntervalMs }),
    });
    opened.push(audit);
    const state = await PgState.open({ pool, audit, logger: o.logger, listener });
    opened.push(state);
    const commands = await PgCommands.open({ pool, logger: o.logger, listener });
    opened.push(commands);
    const plc = await PgPlc.open({ pool, logger: o.logger, listener });
    let closing: Promise<void> | undefined;
    return {
      engine: 'postgres',
      state,
      audit,
      commands,
      plc,
      pool,
      listener,
      syslogBacklog: (destination) =>
        new PgSyslogBacklog({
          pool,
          clientOptions: options,
          audit,
          destination,
          nodeId: o.nodeId,
          logger: o.logger,
        }),
      async probe() {
        // Bounded: a server that hangs counts as unreachable, and the monitor's next round asks again.
        // query_timeout is honoured by pg's client but missing from its types.
        await pool.query({ text: 'SELECT 1', query_timeout: PROBE_TIMEOUT_MS } as pg.QueryConfig);
      },
      close() {
        closing ??= (async () => {
          await plc.close();
          await commands.close();
          await audit.close();
          await state.close();
          await listener.close();
          await pool.end();
        })();
        return closing;
      },
    };
  } catch (err) {
    for (const part of opened.reverse()) await part.close().catch(() => {});
    await pool.end().catch(() => {});
    throw err;
  }
}
