// Access request routes (mounted at /api): create, list, read, approve, deny, cancel, revoke — all through the broker.
import { type Request, Router } from 'express';
import { type AuthContext, requireAuth, requireFreshStepUp, requireRole } from '../../auth/auth.js';
import type { Broker, Caller } from '../../broker.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { notFound } from '../../errors.js';
import { mountRequestHistory } from './request-history.js';
import { isRequestId, parseComment, parseCreate, parseEmpty, parseReason, parseStates } from './request-bodies.js';

export interface RequestsRouterDeps {
  broker: Broker;
  clock: Clock;
  config: Pick<Config, 'stepUp'>;
}

const callerOf = (ctx: AuthContext, req: Request): Caller => ({
  user: ctx.user,
  ...(req.socket.remoteAddress ? { ip: req.socket.remoteAddress } : {}),
});

/** The id from the path; one that cannot be a request id answers like an unknown one. */
function idOf(req: Request): string {
  const id = String(req.params.id);
  if (!isRequestId(id)) throw notFound('not_found', 'no such request');
  return id;
}

/**
 * Guards, in order: signed in (401), role from server state (403 forbidden), fresh TOTP step-up where
 * the reference asks for one (403 stepup_required), then the broker: visibility (404 for ids the caller may not
 * see) and the core rules (403 self_approval / not_approver, 409 not_pending …). 401/403 are audited by
 * the central error hook (http/audit-refusal.ts), the rest by the broker.
 */
export function requestsRouter(deps: RequestsRouterDeps): Router {
  const { broker, clock } = deps;
  const router = Router();
  const stepUp = (ctx: AuthContext) => requireFreshStepUp(ctx, clock.now(), deps.config.stepUp.maxAgeMinutes);
  /** Supervisors and admins decide; the core rules then require an approver group of the target too. */
  const decider = (req: Request) => {
    const ctx = requireRole(req, 'supervisor', 'admin');
    stepUp(ctx);
    return ctx;
  };

  router.get('/requests', (req, res) => {
    const ctx = requireAuth(req);
    res.json({ requests: broker.list(callerOf(ctx, req), parseStates(req.query.state)) });
  });

  router.post('/requests', async (req, res) => {
    const ctx = requireRole(req, 'vendor');
    stepUp(ctx);
    const view = await broker.create(callerOf(ctx, req), parseCreate(req.body));
    res.status(201).location(`/api/requests/${view.id}`).json(view);
  });

  // Before /requests/:id: "history" is not a request id.
  mountRequestHistory(router, broker);

  router.get('/requests/:id', async (req, res) => {
    const ctx = requireAuth(req);
    res.json(await broker.get(callerOf(ctx, req), idOf(req)));
  });

  router.post('/requests/:id/approve', async (req, res) => {
    const ctx = decider(req);
    const comment = parseComment(req.body);
    res.json(await broker.approve(callerOf(ctx, req), idOf(req), comment));
  });

  router.post('/requests/:id/deny', async (req, res) => {
    const ctx = decider(req);
    const reason = parseReason(req.body);
    res.json(await broker.deny(callerOf(ctx, req), idOf(req), reason));
  });

  // No step-up to cancel: withdrawing one's own request or unused grant only ever reduces access.
  router.post('/requests/:id/cancel', async (req, res) => {
    const ctx = requireAuth(req);
    parseEmpty(req.body);
    res.json(await broker.cancel(callerOf(ctx, req), idOf(req)));
  });

  router.post('/requests/:id/revoke', async (req, res) => {
    const ctx = decider(req);
    const reason = parseReason(req.body);
    res.json(await broker.revoke(callerOf(ctx, req), idOf(req), reason));
  });

  return router;
}
