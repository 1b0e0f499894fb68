// /ws/rdp tokens in the database, so a token minted on one node is redeemed on any node. What a database reader
// sees: the SHA-256 of the token and of the web session it is bound to (neither can be turned back into the
// bearer value), the user, what it opens and the screen size. Redeeming is one DELETE … RETURNING: single use
// across nodes, and of two nodes redeeming at once exactly one gets the row.
import type pg from 'pg';
import { randomBytes } from 'node:crypto';
import {
  type ClientSize,
  MAX_TOKEN_CHARS,
  type Minted,
  type RdpTicket,
  type RdpTokenStore,
  type Redeemed,
  type TokenHolder,
  tokenBounds,
  tokenRefusal,
} from '../rdp/rdp.js';
import { idHash, run } from './pending-logins.js';

export interface PgRdpTokensOptions {
  pool: pg.Pool;
  now(): number;
  /** As on one node (rdp/tokens.ts): 30 s, 8 unused a user (the oldest goes first), 10,000 in all (then refused). */
  ttlMs?: number;
  perUser?: number;
  max?: number;
}

interface Row {
  user_id: string;
  web_session_hash: string;
  ticket: RdpTicket;
  size: ClientSize;
  expires_at: string;
}

export class PgRdpTokens implements RdpTokenStore {
  private readonly ttl: number;
  private readonly perUser: number;
  private readonly max: number;

  constructor(private readonly o: PgRdpTokensOptions) {
    ({ ttl: this.ttl, perUser: this.perUser, max: this.max } = tokenBounds(o));
  }

  async mint(who: TokenHolder, ticket: RdpTicket, size: ClientSize): Promise<Minted> {
    const { pool } = this.o;
    const now = this.o.now();
    await run(pool, 'DELETE FROM gh_rdp_tokens WHERE expires_at <= $1', [now]);
    // Room for this one within the user's bound: their oldest unused ones go.
    await run(
      pool,
      `DELETE FROM gh_rdp_tokens WHERE token_hash IN
         (SELECT token_hash FROM gh_rdp_tokens WHERE user_id = $1 ORDER BY created_at DESC, token_hash OFFSET $2)`,
      [who.userId, Math.max(0, this.perUser - 1)],
    );
    const n = await run<{ n: string }>(pool, 'SELECT count(*) AS n FROM gh_rdp_tokens');
    if (Number(n.rows[0]?.n ?? 0) >= this.max) throw tokenRefusal.busy();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttl;
    await run(
      pool,
      `INSERT INTO gh_rdp_tokens (token_hash, user_id, web_session_hash, ticket, size, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        idHash(token),
        who.userId,
        idHash(who.webSessionId),
        JSON.stringify(ticket),
        JSON.stringify(size),
        now,
        expiresAt,
      ],
    );
    return { token, expiresAt };
  }

  /** Taken out first (it never works twice), then checked; another user's token is burnt too, as on one node. */
  async redeem(token: string | null, who: TokenHolder): Promise<Redeemed> {
    if (!token || token.length > MAX_TOKEN_CHARS) throw tokenRefusal.invalid();
    const r = await run<Row>(
      this.o.pool,
      'DELETE FROM gh_rdp_tokens WHERE token_hash = $1 RETURNING user_id, web_session_hash, ticket, size, expires_at',
      [idHash(token)],
    );
    const e = r.rows[0];
    if (!e) throw tokenRefusal.invalid();
    if (Number(e.expires_at) <= this.o.now()) throw tokenRefusal.expired();
    if (e.user_id !== who.userId || e.web_session_hash !== idHash(who.webSessionId)) throw tokenRefusal.foreign();
    return { ticket: e.ticket, size: e.size, userId: e.user_id };
  }
}
