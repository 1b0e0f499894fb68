// Request guards: Origin check, CSRF token on mutating requests, and a small in-memory rate limiter.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Request, type RequestHandler, Router } from 'express';
import type { Clock } from '../clock.js';
import { denied, GatehouseError, unauthenticated } from '../errors.js';

export const CSRF_HEADER = 'x-csrf-token';
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
export const isMutating = (method: string): boolean => MUTATING.has(method.toUpperCase());

/** The socket's address: X-Forwarded-For is never trusted (a client could pick its own rate-limit key). */
export const clientIp = (req: Request): string => req.socket.remoteAddress ?? 'unknown';

/** True when there is no Origin header, or it is exactly the gateway's public origin. */
export function isAllowedOrigin(origin: string | undefined, publicOrigin: string): boolean {
  return origin === undefined || origin === publicOrigin;
}

/**
 * Refuses any request whose Origin is not the gateway's own (403 origin_refused). Why: a browser always
 * names the page that made a cross-site request, so this stops cross-site POSTs and reads even before the
 * CSRF token is looked at. `Origin: null` (sandboxed frames, some redirects) is refused too.
 */
export function originCheck(publicUrl: string): RequestHandler {
  const publicOrigin = new URL(publicUrl).origin;
  return (req, _res, next) => {
    if (isAllowedOrigin(req.headers.origin, publicOrigin)) return next();
    next(denied('origin_refused', 'requests from another origin are refused'));
  };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
/** Constant time: comparing digests keeps both the length and the first differing byte secret. */
export const tokensEqual = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/**
 * Every mutating request needs a session and `X-CSRF-Token` equal to that session's token (403 csrf_failed).
 * Why: the session cookie rides along on any request the browser makes; the token does not, since only
 * same-origin script can read it (from GET /api/me). Mount after the session middleware. Without a session a
 * mutating call is refused 401 here, so no handler ever runs a write for an anonymous caller.
 */
export function csrfCheck(): RequestHandler {
  return (req, _res, next) => {
    if (!isMutating(req.method)) return next();
    if (!req.auth) return next(unauthenticated('login_required', 'sign in first'));
    const sent = req.get(CSRF_HEADER);
    if (typeof sent !== 'string' || sent === '' || !tokensEqual(sent, req.auth.session.csrfToken))
      return next(denied('csrf_failed', 'missing or wrong X-CSRF-Token header'));
    next();
  };
}

export interface RateLimitOptions {
  /** Requests allowed per window and key. */
  limit: number;
  windowMs: number;
  clock: Clock;
  /** Keys tracked at once (default 10,000); when full, the stalest are forgotten. */
  maxKeys?: number;
}

export type RateDecision = { ok: true; remaining: number } | { ok: false; retryAfterSeconds: number };

/** A fixed-window counter per key. In memory: limits reset on restart, which is fine for throttling. */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly opts: RateLimitOptions) {}

  hit(key: string): RateDecision {
    const now = this.opts.clock.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.opts.windowMs) {
      this.windows.delete(key); // re-inserted at the end: Map order stays oldest-first
      w = { start: now, count: 0 };
      this.evict(now);
      this.windows.set(key, w);
    }
    w.count++;
    if (w.count <= this.opts.limit) return { ok: true, remaining: this.opts.limit - w.count };
    return {
      ok: false,
      retryAfterSeconds: Math.max(1, Math.ceil((w.start + this.opts.windowMs - now) / 1000)),
    };
  }

  private evict(now: number): void {
    for (const [k, w] of this.windows) {
      if (this.windows.size < (this.opts.maxKeys ?? 10_000) && now - w.start < this.opts.windowMs) break;
      this.windows.delete(k);
    }
  }
}

/**
 * Express middleware over a RateLimiter: 429 rate_limited with Retry-After. Keyed by socket IP unless
 * `key` says otherwise (e.g. the user id for step-up, so vendors behind one NAT do not share a budget).
 */
export function rateLimit(
  opts: RateLimitOptions & { key?: (req: Request) => string },
): RequestHandler & { limiter: RateLimiter } {
  const limiter = new RateLimiter(opts);
  const keyOf = opts.key ?? clientIp;
  const mw: RequestHandler = (req, res, next) => {
    const d = limiter.hit(keyOf(req));
    if (d.ok) return next();
    res.set('Retry-After', String(d.retryAfterSeconds));
    next(new GatehouseError('rate_limited', 'rate_limited', 'too many requests; try again later'));
  };
  return Object.assign(mw, { limiter });
}

/** 30 a minute per IP on /auth/login and /auth/callback. */
export const loginRateLimit = (clock: Clock, limit = 30) => rateLimit({ limit, windowMs: 60_000, clock });

/** 10 a minute per signed-in user (else IP) for TOTP codes: /api/me/step-up and /api/me/totp/confirm. */
export const stepUpRateLimit = (clock: Clock, limit = 10) =>
  rateLimit({ limit, windowMs: 60_000, clock, key: (req) => req.auth?.user.id ?? clientIp(req) });

/**
 * What runs in front of every /api route, in this order: Origin check, the session middleware (sets
 * req.auth; expired → 401 session_expired), no-store (API answers carry personal data and the CSRF
 * token), CSRF on mutating methods. Mount it before any other /api router.
 */
export function apiGuard(o: { publicUrl: string; session: RequestHandler }): Router {
  const router = Router();
  router.use(originCheck(o.publicUrl), o.session, (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.use(csrfCheck());
  return router;
}
