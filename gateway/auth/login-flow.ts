// Pending OIDC logins: state, nonce, PKCE verifier and returnTo, kept server-side and bound to a short-lived cookie.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';

/** Lax, not Strict: the IdP sends the browser back with a top-level cross-site GET, which Strict would strip. */
export const LOGIN_COOKIE = 'gh_login';
export const LOGIN_TTL_MS = 10 * 60_000;

export interface LoginTransaction {
  state: string;
  nonce: string;
  codeVerifier: string;
  returnTo: string;
  createdAt: number;
}

/** What is stored for a pending login, without its time. */
export type NewLoginTransaction = Omit<LoginTransaction, 'createdAt'>;

/**
 * Where pending logins are kept: in this process (LoginTransactions) on one node, in the database on a cluster
 * (cluster/pending-logins.ts), so that the callback may land on any node. Single use, TTL and bound either way.
 */
export interface PendingLogins {
  readonly ttlMs: number;
  /** Stores a transaction and returns the random id the login cookie carries. */
  create(tx: NewLoginTransaction): string | Promise<string>;
  /** The transaction for `id`, removed at once (single use); undefined when unknown, used or expired. */
  take(id: string | undefined): LoginTransaction | undefined | Promise<LoginTransaction | undefined>;
  /** Read without consuming (tests and diagnostics only: the callback must use take). */
  peek(id: string): Readonly<LoginTransaction> | undefined | Promise<Readonly<LoginTransaction> | undefined>;
}

export interface LoginTransactionsOptions {
  clock: Clock;
  ttlMs?: number;
  /** Bound on pending logins held in memory (default 10,000): the oldest go first. */
  maxSize?: number;
}

/**
 * In memory on purpose for one node: a pending login is worth nothing after a restart (the user just clicks
 * again), and keeping verifiers off disk means they never reach a backup.
 */
export class LoginTransactions implements PendingLogins {
  private readonly pending = new Map<string, LoginTransaction>();
  private readonly clock: Clock;
  readonly ttlMs: number;
  private readonly maxSize: number;

  constructor(opts: LoginTransactionsOptions) {
    this.clock = opts.clock;
    this.ttlMs = opts.ttlMs ?? LOGIN_TTL_MS;
    this.maxSize = opts.maxSize ?? 10_000;
  }

  /** Stores a transaction and returns the random id the login cookie carries. */
  create(tx: NewLoginTransaction): string {
    this.prune();
    while (this.pending.size >= this.maxSize) {
      const oldest = this.pending.keys().next().value;
      if (oldest === undefined) break;
      this.pending.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    this.pending.set(id, { ...tx, createdAt: this.clock.now() });
    return id;
  }

  /**
   * The transaction for `id`, removed at once: single use, so a replayed callback (same cookie, same
   * code) finds nothing. Expired ones are removed and not returned.
   */
  take(id: string | undefined): LoginTransaction | undefined {
    if (!id) return undefined;
    const tx = this.pending.get(id);
    this.pending.delete(id);
    if (!tx || this.expired(tx)) return undefined;
    return tx;
  }

  /** Read without consuming (tests and diagnostics only: the callback must use take). */
  peek(id: string): Readonly<LoginTransaction> | undefined {
    const tx = this.pending.get(id);
    return tx && !this.expired(tx) ? { ...tx } : undefined;
  }

  get size(): number {
    return this.pending.size;
  }

  private expired(tx: LoginTransaction): boolean {
    return this.clock.now() - tx.createdAt > this.ttlMs;
  }

  private prune(): void {
    // Map order is insertion order, so the expired ones are at the front.
    for (const [id, tx] of this.pending) {
      if (!this.expired(tx)) break;
      this.pending.delete(id);
    }
  }
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Where to go after login: only a same-origin relative path, else `/`. Why so strict: the value comes
 * from a link anyone can craft, and `//evil`, `/\evil` or `https://evil` would turn the login page
 * into an open redirect that lends the gateway's name to a phishing site. The query string was decoded
 * once already; an encoded `//` or `\` left in the path is refused as well, because a client router or
 * a proxy may decode it a second time. `/auth/…` is refused so a login never lands on login or logout.
 */
export function safeReturnTo(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return '/';
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\') || CONTROL.test(raw)) return '/';
  let url: URL;
  try {
    url = new URL(raw, 'http://gatehouse.invalid');
  } catch {
    return '/';
  }
  if (url.origin !== 'http://gatehouse.invalid') return '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {
    return '/';
  }
  if (decoded.startsWith('//') || decoded.includes('\\') || CONTROL.test(decoded)) return '/';
  if (url.pathname === '/auth' || url.pathname.startsWith('/auth/')) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}
