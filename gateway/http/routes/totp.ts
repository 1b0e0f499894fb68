// TOTP routes (mounted at /api): enrol, confirm, step-up for the caller; an admin's reset of another user's TOTP.
import { type Request, type RequestHandler, Router } from 'express';
import {
  type AuthContext,
  confirmTotp,
  enrolTotp,
  performStepUp,
  requireAuth,
  requireFreshStepUp,
  requireRole,
  resetTotp,
  totpError,
  type TotpPorts,
  userActor,
} from '../../auth/auth.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { invalidInput } from '../../errors.js';

export interface TotpRouterOptions {
  /** Throttles code guessing per client/user (http/security.ts's RateLimiter); applied to every route here. */
  limiter?: RequestHandler;
}

/** The TOTP rules' ports, the clock, and the site (issuer name, time zone) and step-up age. */
export interface TotpRouterPorts extends TotpPorts {
  clock: Clock;
  config: Pick<Config, 'site' | 'stepUp'>;
}

const actorOf = (ctx: AuthContext, req: Request) => userActor(ctx.user, req.socket.remoteAddress);

/** The submitted code as a string; its format is judged (and counted) by verifyTotp, not here. */
function codeOf(req: Request): string {
  const code = (req.body as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') throw invalidInput('code_required', 'send the 6-digit code as {"code": "123456"}');
  return code;
}

export function totpRouter(deps: TotpRouterPorts, opts: TotpRouterOptions = {}): Router {
  const router = Router();
  const limited: RequestHandler[] = opts.limiter ? [opts.limiter] : [];
  const maxAge = () => deps.config.stepUp.maxAgeMinutes;

  router.post('/me/totp/enroll', ...limited, async (req, res) => {
    const ctx = requireAuth(req);
    const enrolment = await enrolTotp(deps, ctx.user.id, deps.clock.now(), actorOf(ctx, req));
    // The only response that ever carries the secret: keep it out of every cache.
    res.set('Cache-Control', 'no-store').json(enrolment);
  });

  router.post('/me/totp/confirm', ...limited, async (req, res) => {
    const ctx = requireAuth(req);
    const result = await confirmTotp(deps, ctx.user.id, codeOf(req), deps.clock.now(), actorOf(ctx, req));
    if (!result.ok) throw totpError(result, deps.config.site.timezone);
    res.json({ totpEnrolled: true });
  });

  router.post('/me/step-up', ...limited, async (req, res) => {
    const ctx = requireAuth(req);
    res.json(await performStepUp(deps, ctx, codeOf(req), deps.clock.now(), maxAge(), actorOf(ctx, req)));
  });

  router.post('/users/:id/totp/reset', ...limited, async (req, res) => {
    const ctx = requireAuth(req);
    const userId = String(req.params.id);
    // Refusals are audited once, centrally (http/audit-refusal.ts).
    requireRole(req, 'admin');
    // Resetting someone's second factor is as sensitive as approving access: the admin proves theirs first.
    requireFreshStepUp(ctx, deps.clock.now(), maxAge());
    const out = await resetTotp(deps, userId, actorOf(ctx, req));
    res.json({ userId, reset: true, ...out });
  });

  return router;
}
