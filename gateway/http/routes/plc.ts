// /api/sessions/:id/plc…: a session's PLC operations (searchable), the ones held for confirmation, and a supervisor's decision.
import type { Request, Router } from 'express';
import { z } from 'zod';
import { requireAuth, requireFreshStepUp, requireRole } from '../../auth/auth.js';
import type { AuditPort, PlcPort } from '../../storage/storage.js';
import { actorOf, auditRefusal, factsOf } from '../../broker.js';
import { PLC_OUTCOMES, type PlcOperationRecord } from '../../conduit/conduit.js';
import { mayTerminate } from '../../core/session-access.js';
import type { TargetConfig } from '../../config.js';
import type { SessionRecord } from '../../core/model.js';
import { conflict, denied, invalidInput } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SessionRegistry } from '../../sessions.js';

export interface PlcRoutesDeps {
  audit: Pick<AuditPort, 'append'>;
  logger: Logger;
  /** Read only: the operations are appended by the session's conduit. */
  plc: Pick<PlcPort, 'records'> | undefined;
  registry: SessionRegistry;
  targets: ReadonlyMap<string, TargetConfig>;
  now(): number;
  stepUpMaxAgeMinutes: number;
  visibleSession(req: Request, action: string): Promise<SessionRecord>;
}

/** One session's operations in one answer, at most this many (newest kept). */
const MAX_OPERATIONS = 5000;

const queryOf = z.object({
  q: z.string().max(200).optional(),
  verdict: z.enum(PLC_OUTCOMES as [string, ...string[]]).optional(),
});

/** Text search over what an operator reads in the list: function, unit, addresses, values, result, rule. */
function matches(r: PlcOperationRecord, q: string | undefined, verdict: string | undefined): boolean {
  if (verdict && r.verdict !== verdict) return false;
  if (!q) return true;
  const needle = q.toLowerCase();
  return [r.function, r.class, r.unit, r.target, r.values, r.result, r.rule, r.destination, r.protocol].some((f) =>
    f?.toLowerCase().includes(needle),
  );
}

export function mountPlcRoutes(router: Router, o: PlcRoutesDeps): void {
  router.get('/sessions/:id/plc', async (req, res) => {
    requireAuth(req);
    const parsed = queryOf.safeParse(req.query);
    if (!parsed.success)
      throw invalidInput('invalid_query', 'q is text up to 200 characters; verdict one of ' + PLC_OUTCOMES.join(', '));
    const s = await o.visibleSession(req, 'session.plc');
    const all = (o.plc?.records ?? []).filter(
      (r) => r.sessionId === s.id && matches(r, parsed.data.q, parsed.data.verdict),
    );
    res.json({
      operations: all.slice(-MAX_OPERATIONS),
      total: all.length,
      pending: o.registry.get(s.id)?.plc?.pending() ?? [],
    });
  });

  /**
   * Guards in order: role (403), fresh step-up (403 stepup_required), visibility (404), approver of the
   * target (403 not_approver), not the vendor's own session (403), held now (409 not_held). The decision is
   * audited by the conduit before the operation moves on or is refused.
   */
  router.post('/sessions/:id/plc/:opId/:decision', async (req, res) => {
    const decision = String(req.params.decision);
    if (decision !== 'approve' && decision !== 'deny') throw invalidInput('invalid_decision', 'approve or deny');
    const ctx = requireRole(req, 'supervisor', 'admin');
    requireFreshStepUp(ctx, o.now(), o.stepUpMaxAgeMinutes);
    const actor = actorOf({ user: ctx.user, ...(req.socket.remoteAddress ? { ip: req.socket.remoteAddress } : {}) });
    const s = await o.visibleSession(req, 'plc.decide');
    const target = o.targets.get(s.targetId);
    if (!mayTerminate(factsOf(ctx.user), target))
      throw denied(
        'not_approver',
        `you are not an approver for ${target?.name ?? s.targetId}; only its supervisors confirm its PLC operations`,
      );
    const subject = { sessionId: s.id, targetId: s.targetId, plcOperationId: String(req.params.opId).slice(0, 100) };
    // Why: dual control means a second person; a vendor who is also a supervisor elsewhere never confirms their own.
    if (ctx.user.id === s.userId) {
      const err = denied('own_session', 'you cannot confirm operations in your own session');
      await auditRefusal(o.audit, o.logger, actor, 'plc.decide', err, subject);
      throw err;
    }
    const approve = decision === 'approve';
    const decided = o.registry.get(s.id)?.plc?.decide(String(req.params.opId), approve, actor) ?? false;
    if (!decided) {
      const err = conflict(
        'not_held',
        'that operation is not waiting for a decision (decided, timed out, or the session ended)',
      );
      await auditRefusal(o.audit, o.logger, actor, 'plc.decide', err, subject);
      throw err;
    }
    res.json({ decided: approve ? 'approved' : 'denied' });
  });
}
