// Versioned SQL migrations for the PostgreSQL engine, applied in order at start under an advisory lock.
import type pg from 'pg';

/** Advisory lock keys (one bigint namespace per purpose; the values are arbitrary but fixed). */
export const LOCKS = {
  migrate: 7_466_001,
  leader: 7_466_002,
  commands: 7_466_003,
  plc: 7_466_011,
  /** Held (session-level) by the one node that streams the audit chain to the SIEM. */
  syslog: 7_466_012,
} as const;
/** The first key of each node's own lock (two-key form: this, hashtext(node id)): held while the node runs. */
export const NODE_LOCK_SPACE = 7_466_004;

/**
 * Append only: a released migration is never edited, a change is a new entry. Why these shapes:
 * - gh_rows keeps each record of each collection as one row (JSON text, so key order survives), with the
 *   state version that last wrote it: a node catches up with `version > mine`. Deleted rows stay as
 *   tombstones (doc NULL) so that catching up also sees deletions.
 * - gh_state_version is the one row every state writer locks: writers serialise across nodes on it.
 * - gh_audit holds each audit line verbatim (the hash covers its exact text); gh_audit_head is the chain
 *   head every append locks, so the chain is one sequence across nodes.
 * - 2: gh_plc holds PLC operations like gh_commands holds commands (plc.jsonl on lowdb); gh_syslog_cursor
 *   is the SIEM stream's cursor, one per destination, shared by the nodes (whichever streams resumes there).
 * - 3: gh_login_pending (OIDC sign-ins under way) and gh_rdp_tokens (/ws/rdp tokens not yet redeemed), so that any
 *   node may finish what another began. Each row is keyed by the SHA-256 of the id the browser holds, never the id
 *   itself; a sign-in's state, nonce, verifier and returnTo are sealed (AES-256-GCM). Taking a row is one DELETE …
 *   RETURNING: single use across nodes without the state lock. Times are epoch milliseconds of the writing node.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE gh_state_version (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
  INSERT INTO gh_state_version VALUES (1, 0);
  CREATE SEQUENCE gh_row_pos;
  CREATE TABLE gh_rows (
    collection text NOT NULL,
    id text NOT NULL,
    doc json,
    pos bigint NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (collection, id)
  );
  CREATE INDEX gh_rows_version ON gh_rows (version);
  CREATE TABLE gh_audit (
    seq bigint PRIMARY KEY,
    at text NOT NULL,
    type text NOT NULL,
    line text NOT NULL,
    hash text NOT NULL
  );
  CREATE TABLE gh_audit_head (
    id int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL,
    since_checkpoint int NOT NULL,
    signed json
  );
  INSERT INTO gh_audit_head VALUES (1, 0, repeat('0', 64), 0, NULL);
  CREATE TABLE gh_commands (n bigserial PRIMARY KEY, id text NOT NULL UNIQUE, record json NOT NULL);
  CREATE TABLE gh_nodes (
    id text PRIMARY KEY,
    internal_url text,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    stopped_at timestamptz
  );
  `,
  `
  CREATE TABLE gh_plc (n bigserial PRIMARY KEY, id text NOT NULL UNIQUE, record json NOT NULL);
  CREATE TABLE gh_syslog_cursor (
    destination text PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL,
    node text NOT NULL,
    saved_at timestamptz NOT NULL
  );
  `,
  `
  CREATE TABLE gh_login_pending (
    id_hash text PRIMARY KEY,
    sealed text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
  );
  CREATE INDEX gh_login_pending_created ON gh_login_pending (created_at);
  CREATE TABLE gh_rdp_tokens (
    token_hash text PRIMARY KEY,
    user_id text NOT NULL,
    web_session_hash text NOT NULL,
    ticket json NOT NULL,
    size json NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
  );
  CREATE INDEX gh_rdp_tokens_user ON gh_rdp_tokens (user_id, created_at);
  CREATE INDEX gh_rdp_tokens_expires ON gh_rdp_tokens (expires_at);
  `,
];

/** Applies what is missing; concurrent starts of several nodes wait on the lock and then find nothing to do. */
export async function migrateDatabase(client: pg.PoolClient): Promise<{ from: number; to: number }> {
  await client.query('SELECT pg_advisory_lock($1)', [LOCKS.migrate]);
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS gh_schema (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM gh_schema');
    const from = r.rows[0]?.v ?? 0;
    if (from > MIGRATIONS.length)
      throw new Error(
        `the database is at schema ${from}, newer than this gateway knows (${MIGRATIONS.length}): upgrade the gateway`,
      );
    for (let v = from + 1; v <= MIGRATIONS.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[v - 1]!);
        await client.query('INSERT INTO gh_schema (version) VALUES ($1)', [v]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    }
    return { from, to: MIGRATIONS.length };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCKS.migrate]).catch(() => {});
  }
}
