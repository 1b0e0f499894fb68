// Pending OIDC sign-ins in the database, so the callback may reach any node (and a sign-in outlives the node that
// began it). What a database reader sees: the SHA-256 of the cookie's id (which cannot be turned back into the id, so
// nothing is redeemable from it) and the state, nonce, PKCE verifier and returnTo sealed under a key only the nodes
// derive (clusterKeyFrom, from the audit signing key). Each sign-in is a few small statements on its own row, never
// the state store's lock.
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import {
  LOGIN_TTL_MS,
  type LoginTransaction,
  type NewLoginTransaction,
  type PendingLogins,
  type SecretBox,
} from '../auth/auth.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { DATABASE_FAULT, storageUnavailable } from '../storage-faults.js';

/** Longer than any id minted here: a longer cookie is refused unread. */
const MAX_ID_CHARS = 100;

export const idHash = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');

/** One statement; a database that fails it is 503 storage_unavailable, as for every other write on PostgreSQL. */
export async function run<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(text, values);
  } catch (err) {
    throw storageUnavailable(DATABASE_FAULT, err);
  }
}

export interface PgPendingLoginsOptions {
  pool: pg.Pool;
  /** Seals under the nodes' shared key; the row's id hash is the additional data, so a row cannot lend another its text. */
  box: SecretBox;
  clock: Clock;
  logger: Logger;
  ttlMs?: number;
  /** Bound on pending sign-ins (default 10,000, as on one node): the oldest go first. */
  maxSize?: number;
}

type Sealed = Pick<LoginTransaction, 'state' | 'nonce' | 'codeVerifier' | 'returnTo'>;

export class PgPendingLogins implements PendingLogins {
  readonly ttlMs: number;
  private readonly maxSize: number;

  constructor(private readonly o: PgPendingLoginsOptions) {
    this.ttlMs = o.ttlMs ?? LOGIN_TTL_MS;
    this.maxSize = o.maxSize ?? 10_000;
  }

  async create(tx: NewLoginTransaction): Promise<string> {
    const now = this.o.clock.now();
    const id = randomBytes(32).toString('base64url');
    const hash = idHash(id);
    const body: Sealed = { state: tx.state, nonce: tx.nonce, codeVerifier: tx.codeVerifier, returnTo: tx.returnTo };
    // Expired rows go first, then (only past the bound) the oldest: the table never outgrows maxSize for long.
    await run(this.o.pool, 'DELETE FROM gh_login_pending WHERE expires_at <= $1', [now]);
    await run(
      this.o.pool,
      'INSERT INTO gh_login_pending (id_hash, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4)',
      [hash, this.o.box.seal(JSON.stringify(body), hash), now, now + this.ttlMs],
    );
    await run(
      this.o.pool,
      `DELETE FROM gh_login_pending WHERE id_hash IN
         (SELECT id_hash FROM gh_login_pending ORDER BY created_at DESC, id_hash OFFSET $1)`,
      [this.maxSize],
    );
    return id;
  }

  /** One DELETE … RETURNING: of two nodes handed the same cookie at once, exactly one gets the row. */
  async take(id: string | undefined): Promise<LoginTransaction | undefined> {
    if (!id || id.length > MAX_ID_CHARS) return undefined;
    const r = await run<{ id_hash: string; sealed: string; created_at: string; expires_at: string }>(
      this.o.pool,
      'DELETE FROM gh_login_pending WHERE id_hash = $1 RETURNING id_hash, sealed, created_at, expires_at',
      [idHash(id)],
    );
    return this.open(r.rows[0]);
  }

  async peek(id: string): Promise<Readonly<LoginTransaction> | undefined> {
    if (id.length > MAX_ID_CHARS) return undefined;
    const r = await run<{ id_hash: string; sealed: string; created_at: string; expires_at: string }>(
      this.o.pool,
      'SELECT id_hash, sealed, created_at, expires_at FROM gh_login_pending WHERE id_hash = $1',
      [idHash(id)],
    );
    return this.open(r.rows[0]);
  }

  private open(
    row: { id_hash: string; sealed: string; created_at: string; expires_at: string } | undefined,
  ): LoginTransaction | undefined {
    if (!row || Number(row.expires_at) <= this.o.clock.now()) return undefined;
    try {
      const body = JSON.parse(this.o.box.open(row.sealed, row.id_hash)) as Sealed;
      return { ...body, createdAt: Number(row.created_at) };
    } catch {
      // Tampered, or sealed under another key (another cluster's audit key): refused like an unknown sign-in.
      this.o.logger.warn({ login: row.id_hash.slice(0, 16) }, 'cluster: a pending sign-in could not be opened');
      return undefined;
    }
  }
}
