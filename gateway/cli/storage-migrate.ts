// `gatehouse storage migrate --from-dir PATH --config PATH`: moves a lowdb site into the config's PostgreSQL, offline.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { silentLogger } from '../log.js';
import { checkout, copyLowdbSite, createPool, migrateDatabase, poolOptions } from '../storage/storage.js';
import { Store } from '../store.js';
import { type CliIo, parseArgs } from './io.js';

const usage = `usage: gatehouse storage migrate --from-dir PATH --config PATH
  --from-dir PATH   the lowdb storage folder (db.json, audit.jsonl, commands.jsonl, plc.jsonl, keys/) to copy
  --config PATH     a config with storage.engine: postgres; its database must hold no Gatehouse data yet
Stop the gateway first: the folder's lock is taken for the copy. Recordings (sessions/) stay files:
point storage.dir at the same folder, or move sessions/ there.`;

export async function runStorageMigrate(argv: string[], io: CliIo): Promise<number> {
  const { flags, words } = parseArgs(argv);
  if (flags.has('help')) {
    io.out(usage);
    return 0;
  }
  const fromDir = flags.get('from-dir');
  const configPath = flags.get('config');
  const unknown = [...flags.keys()].filter((k) => k !== 'from-dir' && k !== 'config');
  if (words.length > 0 || unknown.length > 0 || typeof fromDir !== 'string' || typeof configPath !== 'string') {
    io.err(usage);
    return 2;
  }
  // Only the database's secrets are needed here (read on connect), not the IdP's or the targets'.
  const config = await loadConfig(configPath, { resolveSecrets: false });
  if (config.storage.engine !== 'postgres' || !config.storage.postgres) {
    io.err(`${configPath}: storage.engine is ${config.storage.engine}; migrate copies into a postgres engine`);
    return 1;
  }
  const from = resolve(fromDir);
  if (!existsSync(join(from, 'db.json'))) {
    io.err(`no Gatehouse state (db.json) in ${from}`);
    return 1;
  }
  const store = await Store.open({ dir: from });
  const pool = createPool(poolOptions(config.storage.postgres), silentLogger);
  try {
    const client = await checkout(pool);
    try {
      await migrateDatabase(client);
    } finally {
      client.release();
    }
    const r = await copyLowdbSite({ store, fromDir: from, toDir: config.storage.dir, pool });
    const counts = Object.entries(r.records)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    io.out(`copied ${from} into PostgreSQL: ${counts}; ${r.commands} commands; ${r.plc} PLC operations`);
    io.out(
      `audit chain: ${r.audit.records} records copied verbatim, verified to seq ${r.audit.head.seq} (hash ${r.audit.head.hash})`,
    );
    if (r.keysCopied.length > 0)
      io.out(`keys copied to ${join(config.storage.dir, 'keys')}: ${r.keysCopied.join(', ')}`);
    if (resolve(config.storage.dir) !== from)
      io.out(
        `recordings stay in ${join(from, 'sessions')}: move that folder to ${join(config.storage.dir, 'sessions')}`,
      );
    return 0;
  } finally {
    await pool.end();
    await store.close();
  }
}
