// Who may open or watch a remote desktop, decided from server state only: asked when a token is minted and again
// when its websocket arrives (the grant may have been revoked or the step-up gone stale in between).
import type { AuthContext } from '../auth/context.js';
import { requireFreshStepUp } from '../auth/step-up.js';
import { factsOf } from '../broker/facts.js';
import { auditRefusal } from '../broker/transact.js';
import type { RdpTargetConfig, TargetConfig } from '../config.js';
import { isApproverFor } from '../core/access.js';
import { type AccessRequest, type User, userActor } from '../core/model.js';
import { canConnect } from '../core/policy.js';
import type { Deps } from '../deps.js';
import { denied, notFound } from '../errors.js';
import type { SessionRegistry } from '../sessions.js';

export interface DesktopAdmission {
  user: User;
  request: AccessRequest & { grantId: string };
  target: TargetConfig & { rdp: RdpTargetConfig };
}

/** A vendor's own approved RDP grant inside its window, with a fresh step-up; throws the refusal otherwise. */
export function admitVendor(deps: Pick<Deps, 'store' | 'config' | 'clock'>, auth: AuthContext, grantId: string): DesktopAdmission {
  const now = deps.clock.now();
  requireFreshStepUp(auth, now, deps.config.stepUp.maxAgeMinutes);
  // The user and the grant as the server knows them now; the caller only names which grant.
  const user = deps.store.data.users.find((u) => u.id === auth.user.id) ?? auth.user;
  const request = deps.store.data.requests.find((r) => r.grantId === grantId && r.userId === user.id);
  // Why one answer for "not yours" and "does not exist": a refusal must not confirm another user's grant id.
  if (!request?.grantId) throw denied('no_grant', 'no approved access under this grant');
  const target = deps.config.targets.find((t) => t.id === request.targetId);
  if (!target?.rdp) throw denied('no_grant', 'no approved remote desktop access under this grant');
  const decision = canConnect(factsOf(user), request, target, 'rdp', now, deps.config.site.timezone);
  if (!decision.allow) throw denied(decision.code, decision.reason);
  return { user, request: request as DesktopAdmission['request'], target: target as DesktopAdmission['target'] };
}

/**
 * A supervisor of the session's target, or an auditor/admin, watching a live RDP session (the same line as the
 * terminal live view). The session must be live in this gateway's registry: that is the truth for "live".
 */
export function admitViewer(deps: Pick<Deps, 'store' | 'config'>, registry: SessionRegistry, auth: AuthContext, sessionId: string) {
  const user = deps.store.data.users.find((u) => u.id === auth.user.id) ?? auth.user;
  const roles = user.roles;
  if (!roles.includes('supervisor') && !roles.includes('auditor') && !roles.includes('admin'))
    throw denied('forbidden', 'only supervisors and auditors watch live sessions');
  const live = registry.get(sessionId);
  const target = live && deps.config.targets.find((t) => t.id === live.targetId);
  const overseesAll = roles.includes('auditor') || roles.includes('admin');
  // Why one answer for "not live" and "not a target you supervise" (as the sessions API answers): a refusal must
  // not confirm that a session id on someone else's target is live.
  if (!live || live.protocol !== 'rdp' || (!overseesAll && !(target && isApproverFor(factsOf(user), target))))
    throw notFound('not_live', 'that remote desktop session is not live');
  return { user, live };
}

/**
 * admitViewer, with its 404 audited as access.denied (with whether the session is live at all): neither the HTTP
 * error hook nor the websocket door audits a 404, and a watch refused is a refusal. Its 403s they audit.
 */
export async function admitViewerAudited(
  deps: Pick<Deps, 'store' | 'config' | 'audit' | 'logger'>,
  registry: SessionRegistry,
  auth: AuthContext,
  sessionId: string,
  ip: string | undefined,
): Promise<ReturnType<typeof admitViewer>> {
  try {
    return admitViewer(deps, registry, auth, sessionId);
  } catch (err) {
    const subject = { sessionId: sessionId.slice(0, 100) };
    await auditRefusal(deps.audit, deps.logger, userActor(auth.user, ip), 'session.watch', err, subject, { exists: registry.get(sessionId) !== undefined });
    throw err;
  }
}
