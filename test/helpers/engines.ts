// The behaviour suite's storage engine: fixtures open storage through here, so one test file runs on
// lowdb or PostgreSQL unchanged (test/integration/postgres-suite.test.ts re-runs files on postgres).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../gateway/clock.js';
import type { Config } from '../../gateway/config.js';
import { type Logger, silentLogger } from '../../gateway/log.js';
import { openStorage } from '../../gateway/storage/open.js';
import type { EngineName, Storage } from '../../gateway/storage/port.js';
import { auditLines } from '../../gateway/storage/postgres/audit.js';
import type { PostgresStorage } from '../../gateway/storage/postgres/engine.js';
import { createTestSchema, type TestDatabase } from './postgres.js';

let current: EngineName = process.env.GATEHOUSE_TEST_ENGINE === 'postgres' ? 'postgres' : 'lowdb';

/** Call at the top of a file, before importing the test files it re-runs. */
export function useEngine(engine: EngineName): void {
  current = engine;
}

export const testEngine = (): EngineName => current;

export interface TestStorage extends Storage {
  /** Every audit line committed so far, in order. */
  auditLines(): Promise<string[]>;
  /** Rewrites the first committed audit line containing `find` (a tamper the verifier must catch). */
  tamperAudit(find: string, replace: string): Promise<void>;
  /** Closes the storage and drops its database (postgres). */
  close(): Promise<void>;
}

let envCount = 0;

/**
 * The `storage` config section for `engine` in `dir`; with postgres a fresh schema is created, its URL
 * put in an environment variable of its own (the config names only the variable), dropped by `drop`.
 */
export async function storageSection(
  dir: string,
  engine: EngineName = current,
): Promise<{ storage: Config['storage']; drop(): Promise<void>; db?: TestDatabase }> {
  if (engine === 'lowdb') return { storage: { dir, engine: 'lowdb' }, drop: async () => {} };
  const db = await createTestSchema();
  const env = `GATEHOUSE_TEST_PG_${process.pid}_${++envCount}`;
  process.env[env] = db.url;
  return {
    storage: { dir, engine: 'postgres', postgres: { url: { env }, poolSize: 10 } },
    db,
    drop: async () => {
      await db.drop();
      delete process.env[env];
    },
  };
}

export async function openTestStorage(o: {
  dir: string;
  clock: Clock;
  logger?: Logger;
  engine?: EngineName;
  node?: Config['node'];
  checkpointEvery?: number;
}): Promise<TestStorage> {
  const section = await storageSection(o.dir, o.engine);
  let storage: Storage;
  try {
    storage = await openStorage({
      config: { storage: section.storage, node: o.node },
      storageDir: o.dir,
      clock: o.clock,
      logger: o.logger ?? silentLogger,
      checkpointIntervalMs: 0,
      ...(o.checkpointEvery !== undefined && { checkpointEvery: o.checkpointEvery }),
    });
  } catch (err) {
    await section.drop();
    throw err;
  }
  return {
    ...storage,
    auditLines: () => readAuditText(storage, o.dir),
    tamperAudit: (find, replace) => tamperAudit(storage, o.dir, find, replace),
    async close() {
      await storage.close();
      await section.drop();
    },
  };
}

/** The committed audit lines of either engine. */
export async function readAuditText(storage: Storage, dir: string): Promise<string[]> {
  if (storage.engine === 'postgres') {
    const out: string[] = [];
    for await (const line of auditLines((storage as PostgresStorage).pool)) out.push(line);
    return out;
  }
  const text = await readFile(join(dir, 'audit.jsonl'), 'utf8');
  return text.trim().split('\n');
}

async function tamperAudit(storage: Storage, dir: string, find: string, replace: string): Promise<void> {
  if (storage.engine === 'postgres') {
    const { pool } = storage as PostgresStorage;
    const r = await pool.query(
      'UPDATE gh_audit SET line = replace(line, $1, $2) WHERE seq = (SELECT min(seq) FROM gh_audit WHERE strpos(line, $1) > 0)',
      [find, replace],
    );
    if (r.rowCount !== 1) throw new Error(`no audit line contains ${find}`);
    return;
  }
  const path = join(dir, 'audit.jsonl');
  const text = await readFile(path, 'utf8');
  const line = text.split('\n').find((l) => l.includes(find));
  if (!line) throw new Error(`no audit line contains ${find}`);
  await writeFile(path, text.replace(line, line.replace(find, replace)));
}
