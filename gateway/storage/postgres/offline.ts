// Offline tools on a PostgreSQL site (audit verify, evidence export): connect from a config, run, disconnect.
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { loadVerifyKey } from '../../audit/signing.js';
import { type Config, loadConfig } from '../../config.js';
import type { VerifyResult } from '../../core/audit-chain.js';
import { silentLogger } from '../../log.js';
import { verifyChain } from './audit.js';
import { createPool, poolOptions } from './connect.js';

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
    const key = await loadVerifyKey(config.storage.dir, publicKeyPem);
    return verifyChain(pool, key);
  });
}
