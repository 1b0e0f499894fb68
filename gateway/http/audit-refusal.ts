// Every 401/403 the HTTP front answers, every request body over the bound and every frame a websocket refuses
// becomes an `access.denied` audit event: refusals are evidence.
import type { Request } from 'express';
import type { AuthContext } from '../auth/auth.js';
import type { AuditPort } from '../storage/storage.js';
import type { Clock } from '../clock.js';
import type { Actor } from '../core/model.js';
import type { ErrorCode, GatehouseError } from '../errors.js';
import type { Logger } from '../log.js';
import { RateLimiter } from './security.js';
import { detach } from '../background.js';

/** Context the caller knows and adds to the record (never what the client sent), e.g. ws's code and the bound. */
export type RefusalDetail = Readonly<Record<string, string | number>>;

export type RefusalHook = ((err: GatehouseError, req: Request, detail?: RefusalDetail) => Promise<void>) & {
  /** Audits the refusals still only counted (each IP's count as one record); the gateway's stop calls it. */
  flush(): Promise<void>;
};

export interface RefusalAuditOptions {
  audit: Pick<AuditPort, 'append'>;
  clock: Clock;
  logger: Logger;
  /** Refusals audited per IP a minute (default 120); beyond that they are counted, and the count is audited next. */
  perMinute?: number;
  /**
   * Who the request's session cookie names, read without writing (WebSessions.peek). Why: some refusals come
   * before the session middleware has set `req.auth` (the body bound, the Origin check, /metrics), and the
   * record still names who was signed in.
   */
  signedIn?(req: Request): AuthContext | undefined;
}

/**
 * The 413s and 400s that are refusals too: a request body over the bound (http/errors.ts, answered before any
 * route runs) and a frame a websocket refused on an open socket (http/ws-violations.ts). Every other 4xx (a
 * validation error, a 404) is answered, not audited.
 */
const OTHER_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'body_too_large',
  'message_too_large',
  'invalid_frame',
]);

export const isRefusal = (err: GatehouseError): boolean =>
  err.status === 401 || err.status === 403 || OTHER_REFUSALS.has(err.code);

/**
 * The page's own "am I signed in?" question (`GET /api/me` without a session) is how every visit to the sign-in
 * page starts: answering "no" refuses nothing, so it is not audited (every other 401/403 still is).
 */
const isSignInProbe = (err: GatehouseError, req: Request): boolean =>
  err.code === 'login_required' && req.method === 'GET' && (req.originalUrl.split('?')[0] ?? '') === '/api/me';

/**
 * The hook http/errors.ts calls for each refusal (the one place they are audited). Why a cap: a client
 * hammering a refused route must not grow the audit log without bound; what is suppressed is not lost
 * silently — the next audited refusal from that IP carries `suppressed: n`, and a count no later refusal
 * picks up is audited on its own within a minute (and at stop), so a flood that stops still shows its size.
 */
export function auditRefusals(opts: RefusalAuditOptions): RefusalHook {
  const limiter = new RateLimiter({ limit: opts.perMinute ?? 120, windowMs: 60_000, clock: opts.clock });
  const suppressed = new Map<string, number>();
  const flush = async () => {
    const pending = [...suppressed];
    suppressed.clear();
    for (const [ip, n] of pending) {
      await opts.audit
        .append({
          type: 'access.denied',
          actor: { kind: 'anonymous', ip },
          data: { code: 'refusals_suppressed', ip, suppressed: n },
        })
        .catch((e: unknown) => opts.logger.error({ err: e, ip, suppressed: n }, 'could not audit suppressed refusals'));
    }
  };
  const timer = setInterval(() => detach(flush(), opts.logger, 'could not flush suppressed refusals'), 60_000);
  timer.unref();
  const hook = async (err: GatehouseError, req: Request, detail?: RefusalDetail) => {
    if (!isRefusal(err) || isSignInProbe(err, req)) return;
    const ip = req.socket.remoteAddress ?? 'unknown';
    if (!limiter.hit(ip).ok) {
      suppressed.set(ip, (suppressed.get(ip) ?? 0) + 1);
      return;
    }
    const skipped = suppressed.get(ip);
    suppressed.delete(ip);
    const user = (req.auth ?? opts.signedIn?.(req))?.user;
    const actor: Actor = user
      ? { kind: 'user', id: user.id, name: user.name, email: user.email, ip }
      : { kind: 'anonymous', ip };
    try {
      await opts.audit.append({
        type: 'access.denied',
        actor,
        data: {
          // First, so it can never stand in for the fields below.
          ...detail,
          code: err.code,
          status: err.status,
          method: req.method,
          // The path without the query string: queries may carry codes or tokens.
          path: req.originalUrl.split('?')[0] ?? req.path,
          ip,
          ...(skipped ? { suppressed: skipped } : {}),
        },
      });
    } catch (e) {
      // The refusal still goes out: failing closed on the response matters more than this record.
      opts.logger.error({ err: e, code: err.code }, 'could not audit a refusal');
    }
  };
  return Object.assign(hook, {
    flush: async () => {
      clearInterval(timer);
      await flush();
    },
  });
}
