// The request state machine as pure functions: pending → approved | denied | cancelled | expired; approved → revoked.
import {
  type ActorFacts,
  approvalsOf,
  grantStatus,
  isApproverFor,
  ms,
  type NewId,
  type RequestEvent,
  refuse,
  subjectOf,
  type TargetRules,
  type Transition,
} from './access.js';
import type { AccessRequest } from './model.js';
import { canApprove } from './policy.js';

export {
  type ActorFacts,
  type GrantStatus,
  grantStatus,
  type NewId,
  type RequestEvent,
  type RequestEventType,
  type TargetRules,
  type Transition,
} from './access.js';
export { createRequest, MAX_LEAD_MS, type RequestInput, START_SKEW_MS } from './requests-create.js';

// Concurrency: every function here is pure. The broker applies them inside the store's serialised
// update (read → transition → write + audit in one step), so of two racing decisions the second sees
// the first's result and is refused: a request ends in exactly one final state.

const iso = (t: number) => new Date(t).toISOString();
const ok = (next: AccessRequest, ...events: RequestEvent[]): Transition => ({ ok: true, next, events });
const event = (type: RequestEvent['type'], r: AccessRequest, data: Record<string, unknown>): RequestEvent => ({
  type,
  subject: subjectOf(r),
  data,
});
const reasonWithin = (v: unknown): string | undefined => {
  const s = typeof v === 'string' ? v.trim() : '';
  return s.length >= 1 && [...s].length <= 500 ? s : undefined;
};

/** The checks approve and deny share: who decides, once, on a request still open. */
function checkDecision(request: AccessRequest, approver: ActorFacts, target: TargetRules, now: number) {
  const may = canApprove(approver, target, request);
  if (!may.allow) return refuse('denied', may.code, may.reason);
  // Why by user id: four-eyes counts people, so one person's second click (or second role) adds nothing.
  if (request.decisions.some((d) => d.by === approver.userId))
    return refuse('conflict', 'already_decided', `you have already decided on request ${request.id}`);
  // Why time as well as state: the expiry sweep may not have run yet, but a decision on a window that
  // has passed would create a grant nobody can use, or a record that misstates what happened.
  if (request.state === 'expired' || (request.state === 'pending' && now >= ms(request.endsAt)))
    return refuse('conflict', 'request_expired', `request ${request.id} expired undecided when its window ended`);
  if (request.state !== 'pending')
    return refuse('conflict', 'not_pending', `request ${request.id} has already been ${request.state}`);
  return undefined;
}

/**
 * Records `approver`'s approval. Distinct approvers count; at approvalsRequired the request becomes a
 * grant (`grantId` from `newId('grt')`, event request.approved); before that, request.approval_recorded.
 * `comment` is optional (a denial's reason is not): kept on the decision as its words, with the same bounds.
 */
export function approve(
  request: AccessRequest,
  approver: ActorFacts,
  target: TargetRules,
  now: number,
  newId: NewId,
  comment?: string,
): Transition {
  const said = comment === undefined || comment.trim() === '' ? undefined : reasonWithin(comment);
  if (comment !== undefined && comment.trim() !== '' && said === undefined)
    return refuse('invalid_input', 'invalid_comment', 'an approval comment is at most 500 characters');
  const refused = checkDecision(request, approver, target, now);
  if (refused) return refused;
  const decision = {
    by: approver.userId,
    at: iso(now),
    verdict: 'approve' as const,
    ...(said ? { reason: said } : {}),
  };
  const decisions = [...request.decisions, decision];
  const base = { ...request, decisions, updatedAt: iso(now) };
  const approvals = approvalsOf(base);
  if (approvals < request.approvalsRequired)
    return ok(
      base,
      event('request.approval_recorded', base, {
        by: approver.userId,
        approvals,
        required: request.approvalsRequired,
        ...(said ? { comment: said } : {}),
      }),
    );
  const next: AccessRequest = { ...base, state: 'approved', grantId: newId('grt') };
  return ok(
    next,
    event('request.approved', next, {
      by: approver.userId,
      approvals,
      required: request.approvalsRequired,
      approvers: decisions.map((d) => d.by),
      startsAt: next.startsAt,
      endsAt: next.endsAt,
      ...(said ? { comment: said } : {}),
    }),
  );
}

/** One approver's denial is final, even if others approved before: any approver may stop the work. */
export function deny(
  request: AccessRequest,
  approver: ActorFacts,
  target: TargetRules,
  reason: string,
  now: number,
): Transition {
  const may = canApprove(approver, target, request);
  if (!may.allow) return refuse('denied', may.code, may.reason);
  const why = reasonWithin(reason);
  if (why === undefined)
    return refuse('invalid_input', 'reason_required', 'a denial needs a reason (1 to 500 characters)');
  const refused = checkDecision(request, approver, target, now);
  if (refused) return refused;
  const next: AccessRequest = {
    ...request,
    state: 'denied',
    decisions: [...request.decisions, { by: approver.userId, at: iso(now), verdict: 'deny', reason: why }],
    closedReason: why,
    updatedAt: iso(now),
  };
  return ok(next, event('request.denied', next, { by: approver.userId, reason: why }));
}

/**
 * The requester withdraws a pending request, or an approved grant whose window has not started (plans
 * changed; an unused grant is exposure). Once the window has started it is not cancelled: sessions may
 * exist under it, and "cancelled" would misstate that; a supervisor revokes instead.
 */
export function cancel(request: AccessRequest, userId: string, now: number): Transition {
  if (userId !== request.userId)
    return refuse('denied', 'not_requester', `only the requester can cancel request ${request.id}`);
  const status = grantStatus(request, now);
  if (request.state === 'pending' && now >= ms(request.endsAt))
    return refuse('conflict', 'request_expired', `request ${request.id} expired undecided when its window ended`);
  if (status === 'active')
    return refuse(
      'conflict',
      'grant_started',
      `the access granted by request ${request.id} has already started; it ends at ${request.endsAt}`,
    );
  if (status === 'ended')
    return refuse('conflict', 'grant_ended', `the access granted by request ${request.id} has already ended`);
  if (request.state !== 'pending' && status !== 'not_started')
    return refuse('conflict', 'not_pending', `request ${request.id} has already been ${request.state}`);
  const next: AccessRequest = {
    ...request,
    state: 'cancelled',
    closedReason: 'cancelled by the requester',
    updatedAt: iso(now),
  };
  return ok(next, event('request.cancelled', next, { by: userId, wasApproved: request.state === 'approved' }));
}

/**
 * A supervisor (role supervisor/admin in an approver group of the target) withdraws a grant that has not
 * ended. The broker must close the grant's live sessions within a second of applying this.
 */
export function revoke(
  request: AccessRequest,
  supervisor: ActorFacts,
  target: TargetRules,
  reason: string,
  now: number,
): Transition {
  if (request.targetId !== target.id)
    return refuse('denied', 'wrong_target', `request ${request.id} is not for ${target.id}`);
  if (!isApproverFor(supervisor, target))
    return refuse(
      'denied',
      'not_approver',
      `only supervisors in ${target.approvers.join(', ')} revoke access to ${target.id}`,
    );
  const why = reasonWithin(reason);
  if (why === undefined)
    return refuse('invalid_input', 'reason_required', 'a revocation needs a reason (1 to 500 characters)');
  if (request.state !== 'approved')
    return refuse('conflict', 'not_approved', `request ${request.id} is ${request.state}, not an approved grant`);
  const status = grantStatus(request, now);
  if (status === 'ended')
    return refuse(
      'conflict',
      'grant_ended',
      `the access granted by request ${request.id} already ended at ${request.endsAt}`,
    );
  const next: AccessRequest = { ...request, state: 'revoked', closedReason: why, updatedAt: iso(now) };
  return ok(next, event('grant.revoked', next, { by: supervisor.userId, reason: why, wasActive: status === 'active' }));
}

/** A pending request whose window ended undecided becomes expired (the broker's periodic sweep). */
export function expire(request: AccessRequest, now: number): Transition {
  if (request.state !== 'pending')
    return refuse('conflict', 'not_pending', `request ${request.id} has already been ${request.state}`);
  if (now < ms(request.endsAt))
    return refuse('conflict', 'window_not_ended', `request ${request.id} can still be decided until ${request.endsAt}`);
  const next: AccessRequest = {
    ...request,
    state: 'expired',
    closedReason: 'window ended undecided',
    updatedAt: iso(now),
  };
  return ok(next, event('request.expired', next, { endsAt: request.endsAt, approvals: approvalsOf(request) }));
}

/**
 * Marks an approved grant whose window has passed as ended, once: state stays `approved` (grantStatus
 * already says `ended` from endsAt); closedReason 'window_ended' records that grant.ended was emitted,
 * so a second sweep or a restart does not emit it again.
 */
export function endGrant(request: AccessRequest, now: number): Transition {
  if (request.state !== 'approved')
    return refuse('conflict', 'not_approved', `request ${request.id} is ${request.state}, not an approved grant`);
  if (now < ms(request.endsAt))
    return refuse(
      'conflict',
      'grant_not_ended',
      `the access granted by request ${request.id} runs until ${request.endsAt}`,
    );
  if (request.closedReason !== undefined)
    return refuse('conflict', 'already_ended', `the end of request ${request.id}'s grant is already recorded`);
  const next: AccessRequest = { ...request, closedReason: 'window_ended', updatedAt: iso(now) };
  return ok(next, event('grant.ended', next, { endedAt: request.endsAt }));
}
