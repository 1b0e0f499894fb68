// Copies a lowdb storage folder into an empty PostgreSQL database: state, commands, PLC operations, and the audit chain
// line for line (same bytes, so the same hashes and signatures), then checks the copy against the source.
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { loadVerifyKey, LOG_FILE, readHead, verifyAuditFile } from '../audit/audit.js';
import { CommandLog } from '../command-log.js';
import { PlcLog } from '../conduit/conduit.js';
import { ChainVerifier } from '../core/audit-chain.js';
import { conflict } from '../errors.js';
import { scanLines } from '../jsonl-scan.js';
import { COLLECTIONS, type DbData, sameJson, type Store } from '../store.js';
import { inTransaction } from './postgres/connect.js';
import { type Queryable, verifyChain } from './postgres/audit.js';
import { META, stateFromRows } from './postgres/rows.js';

export interface CopyReport {
  records: Record<string, number>;
  commands: number;
  plc: number;
  audit: { records: number; head: { seq: number; hash: string } };
  keysCopied: string[];
}

/** Refuses a database that already holds a site: a copy never merges into or overwrites one. */
async function checkEmpty(pool: Queryable): Promise<void> {
  const r = await pool.query<{ n: number }>(
    'SELECT (SELECT count(*) FROM gh_rows) + (SELECT count(*) FROM gh_audit) + (SELECT count(*) FROM gh_commands) + (SELECT count(*) FROM gh_plc) AS n',
  );
  if (Number(r.rows[0]!.n) > 0)
    throw conflict(
      'storage_not_empty',
      'the PostgreSQL database already holds Gatehouse data; migrate only into an empty one',
    );
}

/**
 * `store` is the source, open under its lock (no gateway runs on it). `toDir` is the config's storage.dir:
 * its keys/ gets the source's keys (the audit signing key and the TOTP key) unless it already has them.
 */
export async function copyLowdbSite(o: {
  store: Store;
  fromDir: string;
  toDir: string;
  pool: pg.Pool;
}): Promise<CopyReport> {
  const { store, pool } = o;
  const fromDir = resolve(o.fromDir);
  const source = await verifyAuditFile(fromDir);
  if (!source.ok)
    throw conflict(
      'audit_chain_broken',
      `the source audit log is broken at record seq ${source.seq}: ${source.reason}; nothing was copied`,
    );
  await checkEmpty(pool);
  // The history files too: PostgreSQL keeps closed requests and ended sessions in its rows.
  const db = store.withHistory;
  const commands = await CommandLog.read(fromDir, db);
  const plc = await PlcLog.read(fromDir);
  const head = await readHead(fromDir);
  const keysCopied = await copyKeys(fromDir, resolve(o.toDir));

  await inTransaction(pool, async (c) => {
    await c.query('LOCK TABLE gh_rows, gh_audit, gh_commands, gh_plc IN EXCLUSIVE MODE');
    await checkEmpty(c);
    const rows = rowsOf(db);
    for (let i = 0; i < rows.length; i += 5000) {
      const part = rows.slice(i, i + 5000);
      await c.query(
        `INSERT INTO gh_rows (collection, id, doc, pos, version)
         SELECT c, i, d::json, nextval('gh_row_pos'), 1 FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(c, i, d, o) ORDER BY o`,
        [part.map((r) => r.collection), part.map((r) => r.id), part.map((r) => r.doc)],
      );
    }
    await c.query('UPDATE gh_state_version SET version = 1 WHERE id = 1');
    for (let i = 0; i < commands.length; i += 5000) {
      const part = commands.slice(i, i + 5000);
      await c.query(
        'INSERT INTO gh_commands (id, record) SELECT i, r::json FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(i, r, o) ORDER BY o',
        [part.map((r) => r.id), part.map((r) => JSON.stringify(r))],
      );
    }
    for (let i = 0; i < plc.length; i += 5000) {
      const part = plc.slice(i, i + 5000);
      await c.query(
        'INSERT INTO gh_plc (id, record) SELECT i, r::json FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(i, r, o) ORDER BY o',
        [part.map((r) => r.id), part.map((r) => JSON.stringify(r))],
      );
    }
    const tail = await copyAuditLines(c, join(fromDir, LOG_FILE));
    await c.query('UPDATE gh_audit_head SET seq = $1, hash = $2, since_checkpoint = $3, signed = $4 WHERE id = 1', [
      tail.seq,
      tail.hash,
      tail.sinceCheckpoint,
      head ? JSON.stringify(head) : null,
    ]);
  });

  await checkCopy(pool, fromDir, db, { commands: commands.length, plc: plc.length }, source.head);
  const records = Object.fromEntries([
    ...COLLECTIONS.map((k) => [k, db[k].length]),
    ['meta', Object.keys(db.meta).length],
  ]);
  return {
    records,
    commands: commands.length,
    plc: plc.length,
    audit: { records: source.records, head: source.head },
    keysCopied,
  };
}

function rowsOf(db: Readonly<DbData>): { collection: string; id: string; doc: string }[] {
  const rows: { collection: string; id: string; doc: string }[] = [];
  for (const key of COLLECTIONS)
    for (const r of db[key] as readonly { id: string }[])
      rows.push({ collection: key, id: r.id, doc: JSON.stringify(r) });
  for (const [k, v] of Object.entries(db.meta))
    rows.push({ collection: META, id: k, doc: JSON.stringify({ key: k, value: v }) });
  return rows;
}

/** Streams audit.jsonl into gh_audit, each line's exact text; returns the chain's tail. */
async function copyAuditLines(
  c: pg.PoolClient,
  path: string,
): Promise<{ seq: number; hash: string; sinceCheckpoint: number }> {
  const v = new ChainVerifier();
  let batch: { seq: number; at: string; type: string; line: string; hash: string }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const b = batch;
    batch = [];
    await c.query(
      'INSERT INTO gh_audit (seq, at, type, line, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])',
      [b.map((r) => r.seq), b.map((r) => r.at), b.map((r) => r.type), b.map((r) => r.line), b.map((r) => r.hash)],
    );
  };
  const pending: string[] = [];
  await scanLines(path, {
    maxLine: 16 << 20,
    line: (buf, start, end) => {
      if (end > start) pending.push(buf.toString('utf8', start, end));
      return true;
    },
    tooLong: () => {
      throw new Error('audit.jsonl holds a line far too long to be a record');
    },
  });
  for (const line of pending) {
    if (!v.push(line))
      throw new Error(`audit.jsonl changed while copying (seq ${v.seq + 1}): ${v.failure?.reason ?? ''}`);
    const r = JSON.parse(line) as { at: string; type: string };
    batch.push({ seq: v.seq, at: r.at, type: r.type, line, hash: v.hash });
    if (batch.length >= 5000) await flush();
  }
  await flush();
  return { seq: v.seq, hash: v.hash, sinceCheckpoint: v.sinceCheckpoint };
}

/** The source's keys/ files the target lacks; a target key that differs stops the copy before anything is written. */
async function copyKeys(fromDir: string, toDir: string): Promise<string[]> {
  if (fromDir === toDir) return [];
  const from = join(fromDir, 'keys');
  const to = join(toDir, 'keys');
  await mkdir(to, { recursive: true, mode: 0o700 });
  const copied: string[] = [];
  for (const name of await readdir(from)) {
    const there = await readFile(join(to, name), 'utf8').catch(() => undefined);
    const here = await readFile(join(from, name), 'utf8');
    if (there === undefined) {
      await copyFile(join(from, name), join(to, name));
      copied.push(name);
    } else if (there !== here)
      throw conflict(
        'storage_key_conflict',
        `${join(to, name)} differs from the source's ${name}; refusing to mix two sites' keys`,
      );
  }
  return copied;
}

/** Re-reads the copy: the chain verifies to the source's head with the same key, state and commands equal. */
async function checkCopy(
  pool: pg.Pool,
  fromDir: string,
  db: Readonly<DbData>,
  counts: { commands: number; plc: number },
  head: { seq: number; hash: string },
): Promise<void> {
  const key = await loadVerifyKey(fromDir);
  const v = await verifyChain(pool, key);
  if (!v.ok) throw conflict('copy_mismatch', `the copied audit chain does not verify at seq ${v.seq}: ${v.reason}`);
  if (v.head.seq !== head.seq || v.head.hash !== head.hash)
    throw conflict('copy_mismatch', `the copied audit chain ends at seq ${v.head.seq}, the source at seq ${head.seq}`);
  const rows = await pool.query<{ collection: string; doc: unknown }>(
    'SELECT collection, doc FROM gh_rows WHERE doc IS NOT NULL ORDER BY pos',
  );
  const copied = stateFromRows(rows.rows);
  for (const k of [...COLLECTIONS, 'meta'] as const)
    if (!sameJson(copied[k], JSON.parse(JSON.stringify(db[k]))))
      throw conflict('copy_mismatch', `the copied ${k} differ from the source's`);
  const n = await pool.query<{ commands: string; plc: string }>(
    'SELECT (SELECT count(*) FROM gh_commands) AS commands, (SELECT count(*) FROM gh_plc) AS plc',
  );
  for (const k of ['commands', 'plc'] as const)
    if (Number(n.rows[0]![k]) !== counts[k])
      throw conflict('copy_mismatch', `${n.rows[0]![k]} ${k} records copied, the source has ${counts[k]}`);
}
