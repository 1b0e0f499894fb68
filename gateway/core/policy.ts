// Who may request, approve, connect and see: pure decisions whose reasons keep the request states apart.
import {
  type ActorFacts,
  approvalsOf,
  grantStatus,
  isApproverFor,
  ms,
  protocolsOf,
  type TargetRules,
} from './access.js';
import type { ErrorCode } from '../errors.js';
import type { AccessRequest, Protocol } from './model.js';
import { formatLocal } from './windows-tz.js';

/**
 * A policy answer. Named AccessDecision because model.ts's `Decision` is an approver's recorded verdict.
 * `reason` is one human line; the caller may append where to request access (it knows the public URL).
 */
export type AccessDecision = { allow: true } | { allow: false; code: ErrorCode; reason: string };

const allow: AccessDecision = { allow: true };
const deny = (code: ErrorCode, reason: string): AccessDecision => ({ allow: false, code, reason });
const label = (t: TargetRules) => (t.name && t.name !== t.id ? `${t.id} (${t.name})` : t.id);

/** Vendors ask for access; other roles decide, watch or audit. */
export function canRequest(user: ActorFacts, target: TargetRules): AccessDecision {
  if (!user.roles.includes('vendor')) return deny('role_required', `only vendors request access to ${label(target)}`);
  return allow;
}

/** May `user` approve or deny `request` on `target`? (Whether the request is still open is requests.ts's job.) */
export function canApprove(user: ActorFacts, target: TargetRules, request: AccessRequest): AccessDecision {
  if (request.targetId !== target.id) return deny('wrong_target', `request ${request.id} is not for ${target.id}`);
  if (!isApproverFor(user, target))
    return deny(
      'not_approver',
      `you are not an approver for ${label(target)} (supervisors in ${target.approvers.join(', ')} are)`,
    );
  // Why by user id and after the role check: four-eyes means someone else decides. A requester who is
  // also a supervisor in the approver group would otherwise approve themselves through that second role.
  if (user.userId === request.userId) return deny('self_approval', 'you cannot decide on your own request');
  return allow;
}

/**
 * May `user` open a `protocol` session to `target` now, under `request` (see pickRequestForConnect)?
 * `timeZone` only formats the times named in refusals (the site's zone; UTC if not given).
 */
export function canConnect(
  user: ActorFacts,
  request: AccessRequest | undefined,
  target: TargetRules,
  protocol: Protocol,
  now: number,
  timeZone = 'UTC',
): AccessDecision {
  const at = (iso: string) => formatLocal(ms(iso), timeZone);
  if (!protocolsOf(target).includes(protocol))
    return deny('protocol_not_available', `${label(target)} does not accept ${protocol.toUpperCase()} connections`);
  // Why check owner and target again: a grant is personal and for one target; a caller that picked the
  // wrong request must not turn it into access.
  if (!request || request.userId !== user.userId || request.targetId !== target.id)
    return deny('no_grant', `no approved access to ${label(target)}`);
  // Why: the IdP is the source of roles; a vendor removed from the vendor group loses access at once.
  if (!user.roles.includes('vendor')) return deny('role_required', `only vendors connect to ${label(target)}`);
  const what = `your request ${request.id} for ${label(target)}`;
  // A pending request whose window passed is expired even before the sweep has recorded it.
  const state = request.state === 'pending' && now >= ms(request.endsAt) ? 'expired' : request.state;
  switch (state) {
    case 'pending':
      return deny(
        'grant_pending',
        `${what} is awaiting approval (${approvalsOf(request)} of ${request.approvalsRequired})`,
      );
    case 'denied': {
      const why = request.decisions.find((d) => d.verdict === 'deny')?.reason;
      return deny('grant_denied', `${what} has been denied${why ? `: ${why}` : ''}`);
    }
    case 'cancelled':
      return deny('no_grant', `${what} was cancelled; no approved access to ${label(target)}`);
    case 'expired':
      return deny('grant_expired', `${what} expired undecided at ${at(request.endsAt)}`);
    case 'revoked':
      return deny(
        'grant_revoked',
        `your access to ${label(target)} has been revoked${request.closedReason ? `: ${request.closedReason}` : ''}`,
      );
    case 'approved':
      break;
  }
  if (request.protocol !== protocol)
    return deny(
      'wrong_protocol',
      `your access to ${label(target)} is for ${request.protocol.toUpperCase()}, not ${protocol.toUpperCase()}`,
    );
  const status = grantStatus(request, now);
  if (status === 'not_started')
    return deny('window_not_started', `your access to ${label(target)} starts at ${at(request.startsAt)}`);
  if (status === 'ended')
    return deny('grant_expired', `your access to ${label(target)} ended at ${at(request.endsAt)}`);
  return allow;
}

/**
 * The request of `userId` for `targetId` that best explains a connection attempt: an active grant for
 * this protocol (the one ending last), then the next upcoming one for it, then an active or upcoming
 * grant for the other protocol (→ wrong_protocol), then the most recent request of any state.
 */
export function pickRequestForConnect(
  requests: readonly AccessRequest[],
  userId: string,
  targetId: string,
  protocol: Protocol,
  now: number,
): AccessRequest | undefined {
  const rank = (r: AccessRequest): number => {
    const status = grantStatus(r, now);
    const other = r.protocol === protocol ? 0 : 2;
    if (status === 'active') return 0 + other;
    if (status === 'not_started') return 1 + other;
    return 4;
  };
  // Within a rank: active → latest end; upcoming → earliest start; the rest → newest.
  const key = (r: AccessRequest, rk: number): number =>
    rk === 0 || rk === 2 ? -ms(r.endsAt) : rk === 1 || rk === 3 ? ms(r.startsAt) : -ms(r.createdAt);
  let best: { r: AccessRequest; rank: number; key: number } | undefined;
  for (const r of requests) {
    if (r.userId !== userId || r.targetId !== targetId) continue;
    const rk = rank(r);
    const k = key(r, rk);
    if (!best || rk < best.rank || (rk === best.rank && k < best.key)) best = { r, rank: rk, key: k };
  }
  return best?.r;
}

/**
 * May `user` see `request`? Vendors their own; supervisors also those for targets whose approver groups
 * they share; auditors and admins all. A request for a target no longer configured stays visible to its
 * owner, auditors and admins only.
 */
export function visibleTo(
  user: ActorFacts,
  request: AccessRequest,
  targetsById: ReadonlyMap<string, TargetRules>,
): boolean {
  if (user.roles.includes('auditor') || user.roles.includes('admin')) return true;
  if (request.userId === user.userId) return true;
  if (!user.roles.includes('supervisor')) return false;
  const target = targetsById.get(request.targetId);
  return target?.approvers.some((g) => user.groups.includes(g)) ?? false;
}
