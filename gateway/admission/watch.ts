// Who may watch a live session (the terminal live view, the RDP read-only join): a supervisor of its target, an
// auditor or an admin, and only while the session is live in this gateway's registry (the truth for "live").
import type { AuthContext } from '../auth/auth.js';
import { auditRefusal, factsOf } from '../broker.js';
import { isApproverFor } from '../core/access.js';
import { type Protocol, type User, userActor } from '../core/model.js';
import type { Config } from '../config.js';
import { denied, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import type { LiveSession, SessionRegistry } from '../sessions.js';
import type { AuditAppend, StateView } from '../storage/storage.js';

/** What the watch check reads (the user's roles now, the targets' approvers) and the audit log for its 404 refusal. */
export interface WatchPorts {
  store: Pick<StateView, 'data'>;
  config: Pick<Config, 'targets'>;
  audit: AuditAppend;
  logger: Logger;
}

/**
 * The user as the store holds them now and the live session they may watch; throws the refusal otherwise. A
 * refusal for the role is a 403 (audited centrally); "not live", "not this protocol" and "not a target you
 * supervise" are one 404, audited here, so a refusal never confirms that a session on someone else's target is live.
 */
export async function admitWatcher(
  deps: WatchPorts,
  registry: SessionRegistry,
  auth: AuthContext,
  sessionId: string,
  ip: string | undefined,
  protocol?: Protocol,
): Promise<{ user: User; live: LiveSession }> {
  const user = deps.store.data.users.find((u) => u.id === auth.user.id) ?? auth.user;
  const roles = user.roles;
  if (!roles.includes('supervisor') && !roles.includes('auditor') && !roles.includes('admin'))
    throw denied('forbidden', 'only supervisors and auditors watch live sessions');
  const live = registry.get(sessionId);
  const target = live && deps.config.targets.find((t) => t.id === live.targetId);
  const overseesAll = roles.includes('auditor') || roles.includes('admin');
  if (
    live &&
    (!protocol || live.protocol === protocol) &&
    (overseesAll || (target && isApproverFor(factsOf(user), target)))
  )
    return { user, live };
  const err = notFound('not_live', 'that session is not live');
  // Neither the HTTP error hook nor the websocket door audits a 404, and a watch refused is a refusal.
  await auditRefusal(
    deps.audit,
    deps.logger,
    userActor(user, ip),
    'session.watch',
    err,
    { sessionId: sessionId.slice(0, 100) },
    { exists: live !== undefined },
  );
  throw err;
}
