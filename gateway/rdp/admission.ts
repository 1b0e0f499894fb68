// Who may open a remote desktop, decided from server state only: asked when a token is minted and again when its
// websocket arrives (the grant may have been revoked or the step-up gone stale in between). Watching one: see
// watch-admission.ts.
import type { AuthContext } from '../auth/context.js';
import { requireFreshStepUp } from '../auth/step-up.js';
import { factsOf } from '../broker/facts.js';
import type { RdpTargetConfig, TargetConfig } from '../config.js';
import type { AccessRequest, User } from '../core/model.js';
import { canConnect } from '../core/policy.js';
import type { Deps } from '../deps.js';
import { denied } from '../errors.js';

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
