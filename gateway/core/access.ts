// Shared facts of access rules: what core reads of a target and a user, results of transitions, grant status.
import type { ErrorCode, ErrorKind } from '../errors.js';
import type { AuditEventData } from './audit-events.js';
import type { AccessRequest, Protocol, Role } from './model.js';
import type { WindowRule } from './windows.js';

/**
 * What the access rules read of a target. config/schema.ts's TargetConfig fits it structurally; core
 * declares its own view so it does not depend on the config loader (and zod).
 */
export interface TargetRules {
  id: string;
  name: string;
  ssh?: unknown;
  rdp?: unknown;
  /** IdP groups whose members (with role supervisor or admin) approve, deny and revoke. */
  approvers: readonly string[];
  approvalsRequired: number;
  maxDurationMinutes: number;
  /** Absent: no restriction. Present (even empty): outside every window is an emergency. */
  maintenanceWindows?: readonly WindowRule[];
}

/** Who acts, as far as the rules care: taken from the User at the time of the action. */
export interface ActorFacts {
  userId: string;
  groups: readonly string[];
  roles: readonly Role[];
}

/** Mints ids: `req_…` for requests, `grt_…` for grants. Passed in so core stays pure and tests stay exact. */
export type NewId = (prefix: 'req' | 'grt') => string;

export type RequestEventType =
  | 'request.created'
  | 'request.approval_recorded'
  | 'request.approved'
  | 'request.denied'
  | 'request.cancelled'
  | 'request.expired'
  | 'grant.revoked'
  | 'grant.ended';

/** An audit event to append with the update: `subject` names the ids, `data` the details. */
export type RequestEvent<T extends RequestEventType = RequestEventType> = T extends RequestEventType
  ? {
      type: T;
      subject: { requestId: string; targetId: string; userId: string; grantId?: string };
      data: AuditEventData[T];
    }
  : never;

export type Transition =
  | { ok: true; next: AccessRequest; events: RequestEvent[] }
  | {
      ok: false;
      /** snake_case, stable. */
      code: ErrorCode;
      message: string;
      /** How the broker maps it to an error (`new GatehouseError(kind, code, message)`). */
      kind: ErrorKind;
    };

export const refuse = (kind: ErrorKind, code: ErrorCode, message: string): Transition => ({
  ok: false,
  code,
  message,
  kind,
});

export const protocolsOf = (target: TargetRules): Protocol[] => {
  const out: Protocol[] = [];
  if (target.ssh !== undefined) out.push('ssh');
  if (target.rdp !== undefined) out.push('rdp');
  return out;
};

/**
 * May this user decide for this target (approve, deny, revoke)? Needs the role *and* an approver
 * group: a vendor who happens to be in a supervisors' IdP group still does not approve.
 */
export const isApproverFor = (user: ActorFacts, target: TargetRules): boolean =>
  (user.roles.includes('supervisor') || user.roles.includes('admin')) &&
  user.groups.some((g) => target.approvers.includes(g));

export type GrantStatus = 'none' | 'not_started' | 'active' | 'ended' | 'revoked';

export const ms = (iso: string): number => Date.parse(iso);

/**
 * The grant's status at `now`. A grant whose window passed keeps state `approved` (it *was* approved,
 * and evidence should say so); that it is over follows from endsAt, so no sweep is needed for access
 * to stop. Half-open: at endsAt it has ended.
 */
export function grantStatus(request: AccessRequest, now: number): GrantStatus {
  if (request.state === 'revoked') return 'revoked';
  if (request.state !== 'approved') return 'none';
  if (now < ms(request.startsAt)) return 'not_started';
  if (now < ms(request.endsAt)) return 'active';
  return 'ended';
}

export const approvalsOf = (request: AccessRequest): number =>
  request.decisions.filter((d) => d.verdict === 'approve').length;

export const subjectOf = (r: AccessRequest): RequestEvent['subject'] => ({
  requestId: r.id,
  targetId: r.targetId,
  userId: r.userId,
  ...(r.grantId ? { grantId: r.grantId } : {}),
});
