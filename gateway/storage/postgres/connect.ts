// A pg pool from `storage.postgres`: secrets resolved at connect time, TLS as configured, errors without secrets.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Config } from '../../config.js';
import { resolveSecret } from '../../config.js';
import type { Logger } from '../../log.js';

export type PostgresConfig = NonNullable<Config['storage']['postgres']>;

/** Connection options for `pg`; the password stays inside them and is never logged. */
export function poolOptions(pgc: PostgresConfig, opts: { cwd?: string } = {}): pg.PoolConfig {
  const base: pg.PoolConfig = { max: pgc.poolSize, application_name: 'gatehouse', connectionTimeoutMillis: 10_000 };
  if (pgc.url) base.connectionString = resolveSecret(pgc.url, opts);
  else {
    base.host = pgc.host;
    if (pgc.port) base.port = pgc.port;
    if (pgc.database) base.database = pgc.database;
    if (pgc.user) base.user = pgc.user;
    if (pgc.password) base.password = resolveSecret(pgc.password, opts);
  }
  if (pgc.tls) {
    base.ssl = {
      rejectUnauthorized: pgc.tls.rejectUnauthorized,
      ...(pgc.tls.caFile && { ca: readFileSync(pgc.tls.caFile, 'utf8') }),
      ...(pgc.tls.certFile && { cert: readFileSync(pgc.tls.certFile, 'utf8') }),
      ...(pgc.tls.keyFile && { key: resolveSecret(pgc.tls.keyFile, opts) }),
    };
  }
  return base;
}

/** A pool whose idle-client errors are logged instead of crashing the process (a server restart). */
export function createPool(options: pg.PoolConfig, logger: Logger): pg.Pool {
  const pool = new pg.Pool(options);
  pool.on('error', (err) => logger.warn({ err: { message: err.message } }, 'postgres: an idle connection failed'));
  return pool;
}

const ignore = () => {};

/**
 * A connection out of the pool. Why the listener: pg-pool listens for errors only on idle clients, so a
 * server that terminates a checked-out connection (a restart, pg_terminate_backend) would emit an
 * unhandled 'error' and kill the process; the query in flight is rejected anyway.
 */
export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  client.on('error', ignore);
  const release = client.release.bind(client);
  client.release = (err?: Error | boolean) => {
    client.off('error', ignore);
    release(err);
  };
  return client;
}

/** Runs `fn` in one transaction on its own connection; rolls back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await checkout(pool);
  try {
    await client.query('BEGIN');
    const value = await fn(client);
    await client.query('COMMIT');
    return value;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
