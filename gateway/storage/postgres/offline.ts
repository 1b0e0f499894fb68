// Offline tools on a PostgreSQL site (audit verify, evidence export, users, recordings): connect from a config, run, disconnect.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { checkWitness, KEY_DIR, loadVerifyKey, PRIVATE_KEY_FILE, type WitnessResult } from '../../audit/audit.js';
import { type Clock, systemClock } from '../../clock.js';
import { type Config, loadConfig } from '../../config.js';
import type { VerifyResult } from '../../core/audit-chain.js';
import { unavailable } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { chainHashes, verifyChain } from './audit.js';
import { checkout, createPool, poolOptions } from './connect.js';
import { openPostgres, type PostgresStorage } from './engine.js';
import { stateFromRows } from './rows.js';
import type { DbData } from '../../store.js';

/** Whether a config file names the postgres engine (read without validating the rest, like storage.dir). */
export async function namesPostgres(configPath: string): Promise<boolean> {
  const doc = parseYaml(await readFile(configPath, 'utf8')) as { storage?: { engine?: unknown } } | null;
  return doc?.storage?.engine === 'postgres';
}

/** Runs `fn` with a pool on the config's database (the config fully loaded: its secrets are needed). */
export async function withSitePool<T>(
  configPath: string,
  fn: (pool: pg.Pool, config: Config) => Promise<T>,
): Promise<T> {
  // Only the database's secrets are needed here (read on connect), not the IdP's or the targets'.
  const config = await loadConfig(configPath, { resolveSecrets: false });
  if (!config.storage.postgres) throw new Error(`${configPath}: storage.postgres is missing`);
  const pool = createPool({ ...poolOptions(config.storage.postgres), max: 2 }, silentLogger);
  try {
    return await fn(pool, config);
  } finally {
    await pool.end();
  }
}

/** `gatehouse audit verify --config` on PostgreSQL: the chain in the database against the site's key. */
export function verifySiteAudit(configPath: string, publicKeyPem?: string): Promise<VerifyResult> {
  return withSitePool(configPath, async (pool, config) => {
    const key = await loadVerifyKey(config.storage.dir, publicKeyPem, config.audit.signingKey?.file);
    return verifyChain(pool, key);
  });
}

/** `gatehouse audit verify --config --witness` on PostgreSQL: the chain in the database against the SIEM's copy. */
export function witnessSiteAudit(configPath: string, witness: string, publicKeyPem?: string): Promise<WitnessResult> {
  return withSitePool(configPath, async (pool, config) => {
    const key = await loadVerifyKey(config.storage.dir, publicKeyPem, config.audit.signingKey?.file);
    return checkWitness(config.storage.dir, witness, key, chainHashes(pool));
  });
}

/**
 * Opens a PostgreSQL site's storage for an offline command (users reset-totp, evidence export, recordings
 * verify): the same engine a gateway node opens, under the node name `cli`, so what the command changes is
 * one more transaction in the shared state and chain, beside any running nodes. The signing key is never
 * created here: a command run where the storage folder is not mounted must not mint a new key.
 */
export async function openSiteStorage(
  configPath: string,
  o: { clock?: Clock } = {},
): Promise<{ storage: PostgresStorage; config: Config }> {
  const config = await loadConfig(configPath, { resolveSecrets: false });
  if (!config.storage.postgres) throw new Error(`${configPath}: storage.postgres is missing`);
  const keyFile = config.audit.signingKey?.file;
  const keyPath = keyFile ?? join(config.storage.dir, KEY_DIR, PRIVATE_KEY_FILE);
  if (!existsSync(keyPath))
    throw unavailable(
      'audit_key_missing',
      `the audit signing key ${keyPath} is missing: run this where the gateway's ${keyFile ? 'key file' : 'storage folder (keys/)'} is`,
    );
  const storage = await openPostgres({
    postgres: config.storage.postgres,
    storageDir: config.storage.dir,
    clock: o.clock ?? systemClock,
    logger: silentLogger,
    nodeId: 'cli',
    ...(keyFile !== undefined && { signingKeyFile: keyFile }),
    checkpointIntervalMs: 0,
  });
  return { storage, config };
}

/** A PostgreSQL site's state as one consistent snapshot, read-only (recordings verify beside running nodes). */
export function readSiteState(configPath: string): Promise<{ db: DbData; config: Config }> {
  return withSitePool(configPath, async (pool, config) => {
    const client = await checkout(pool);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const rows = await client.query<{ collection: string; doc: unknown }>(
        'SELECT collection, doc FROM gh_rows WHERE doc IS NOT NULL ORDER BY pos',
      );
      await client.query('COMMIT');
      return { db: stateFromRows(rows.rows), config };
    } finally {
      client.release();
    }
  });
}
