// Server-minted tokens for /ws/rdp: opaque, random, single use, short-lived, kept in memory and bound to the
// user, their web session and what they open. The URL carries nothing else. Why not guacamole-lite's encrypted
// tokens: AES-CBC without a MAC carries settings the client could tamper with; here the client holds a name only.
import { randomBytes } from 'node:crypto';
import { denied } from '../errors.js';
import type { ClientSize } from './params.js';

export type RdpTicket = { kind: 'connect'; grantId: string; sessionId: string } | { kind: 'watch'; sessionId: string };

interface Entry {
  ticket: RdpTicket;
  userId: string;
  webSessionId: string;
  size: ClientSize;
  expiresAt: number;
}

export interface RdpTokenOptions {
  now(): number;
  /** How long a token may wait for its websocket (default 30 s). */
  ttlMs?: number;
  /** Unused tokens one user may hold (default 8): the oldest goes first. */
  perUser?: number;
  /** Unused tokens in all (default 10,000): minting refuses beyond it. */
  max?: number;
}

export type Redeemed = { ticket: RdpTicket; size: ClientSize; userId: string };

/** The bounds every token store keeps, whichever holds it (this node's memory, or PostgreSQL for all nodes). */
export function tokenBounds(o: Pick<RdpTokenOptions, 'ttlMs' | 'perUser' | 'max'>): {
  ttl: number;
  perUser: number;
  max: number;
} {
  return { ttl: o.ttlMs ?? 30_000, perUser: o.perUser ?? 8, max: o.max ?? 10_000 };
}

/** Who mints or redeems a token: the user and the web session it is bound to. */
export type TokenHolder = { userId: string; webSessionId: string };

/**
 * Where tokens are kept: in this process (RdpTokens) on one node, in the database on a cluster
 * (cluster/rdp-tokens.ts), so that /ws/rdp may reach another node than the one that minted. Either way single use,
 * short-lived, bounded, bound to the user and web session, and refused with the same codes.
 */
export interface RdpTokenStore {
  mint(who: TokenHolder, ticket: RdpTicket, size: ClientSize): Minted | Promise<Minted>;
  redeem(token: string | null, who: TokenHolder): Redeemed | Promise<Redeemed>;
}
export type Minted = { token: string; expiresAt: number };

/** The refusals both stores give, so a page reads the same answer whichever node it reached. */
export const tokenRefusal = {
  busy: () => denied('rdp_busy', 'too many remote desktop connections are being opened; try again shortly'),
  invalid: () =>
    denied(
      'rdp_token_invalid',
      'this remote desktop link is unknown or was already used: open the desktop again from Gatehouse',
    ),
  expired: () =>
    denied('rdp_token_expired', 'this remote desktop link has expired: open the desktop again from Gatehouse'),
  foreign: () => denied('rdp_token_foreign', 'this remote desktop link was issued to someone else'),
};
/** Longer than any token minted here: a longer one is refused unread. */
export const MAX_TOKEN_CHARS = 100;

export class RdpTokens implements RdpTokenStore {
  private readonly entries = new Map<string, Entry>();
  private readonly ttl: number;
  private readonly perUser: number;
  private readonly max: number;

  constructor(private readonly o: RdpTokenOptions) {
    ({ ttl: this.ttl, perUser: this.perUser, max: this.max } = tokenBounds(o));
  }

  mint(who: TokenHolder, ticket: RdpTicket, size: ClientSize): Minted {
    const now = this.o.now();
    this.sweep(now);
    const mine = [...this.entries].filter(([, e]) => e.userId === who.userId);
    for (const [token] of mine.slice(0, Math.max(0, mine.length - this.perUser + 1))) this.entries.delete(token);
    if (this.entries.size >= this.max) throw tokenRefusal.busy();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttl;
    this.entries.set(token, { ticket, userId: who.userId, webSessionId: who.webSessionId, size, expiresAt });
    return { token, expiresAt };
  }

  /**
   * Takes the token out (it never works twice, whatever happens next) and checks it belongs to this caller.
   * Why another user's token is burnt too: whoever holds it got it by leaking or stealing it.
   */
  redeem(token: string | null, who: TokenHolder): Redeemed {
    const now = this.o.now();
    const e = token && token.length <= MAX_TOKEN_CHARS ? this.entries.get(token) : undefined;
    if (token) this.entries.delete(token);
    if (!e) throw tokenRefusal.invalid();
    if (e.expiresAt <= now) throw tokenRefusal.expired();
    if (e.userId !== who.userId || e.webSessionId !== who.webSessionId) throw tokenRefusal.foreign();
    return { ticket: e.ticket, size: e.size, userId: e.userId };
  }

  size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    for (const [token, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(token);
  }
}
