// What the API shows of a request: the record plus the context an approver decides on (who, org, target, zone, history).
import type { TargetConfig } from '../config.js';
import { approvalsOf, type GrantStatus, grantStatus, ms } from '../core/access.js';
import type { AccessRequest, Protocol, RequestState, SessionRecord, User } from '../core/model.js';
import { approve, cancel, deny, revoke } from '../core/requests.js';
import { formatLocal } from '../core/windows.js';
import { factsOf, formatWindow } from './facts.js';

export interface PersonRef {
  id: string;
  name: string;
  org: string;
}

export interface EarlierSession {
  id: string;
  protocol: Protocol;
  startedAt: string;
  endedAt: string | null;
  endReason: string | null;
}

export interface RequestView {
  id: string;
  state: RequestState;
  /** The grant at the time of the answer: `ended` once endsAt passed, whatever the sweep has recorded. */
  grantStatus: GrantStatus;
  grantId: string | null;
  protocol: Protocol;
  startsAt: string;
  endsAt: string;
  durationMinutes: number;
  /** The window on the site's wall clock, e.g. "2026-11-23 11:00–13:00 Europe/Berlin". */
  windowLocal: string;
  purpose: string;
  ticket: string | null;
  emergency: boolean;
  emergencyReason: string | null;
  approvalsRequired: number;
  approvals: number;
  decisions: Array<{ by: PersonRef; at: string; verdict: 'approve' | 'deny'; reason: string | null }>;
  requester: PersonRef & { email: string };
  target: { id: string; name: string; zone: string | null; securityLevel: number | null };
  createdAt: string;
  updatedAt: string;
  closedReason: string | null;
  /** What the viewer may do now (the same pure rules the actions apply), for the pages' buttons. */
  can: { approve: boolean; deny: boolean; cancel: boolean; revoke: boolean };
  /** For approvers and auditors: this vendor's other sessions on this target (newest first, at most 10). */
  earlierSessions?: { count: number; recent: EarlierSession[] };
}

export interface ViewContext {
  now: number;
  timeZone: string;
  targets: ReadonlyMap<string, TargetConfig>;
  users: ReadonlyMap<string, User>;
  sessions: readonly SessionRecord[];
}

const person = (users: ReadonlyMap<string, User>, id: string): PersonRef => {
  const u = users.get(id);
  return { id, name: u?.name ?? id, org: u?.org ?? '' };
};

const noId = () => 'grt_dry_run';

/** Dry-runs the core transitions: a button is shown exactly when the action would pass the rules. */
function abilities(viewer: User, r: AccessRequest, target: TargetConfig | undefined, now: number) {
  const f = factsOf(viewer);
  const decider = viewer.roles.some((x) => x === 'supervisor' || x === 'admin');
  return {
    approve: !!target && decider && approve(r, f, target, now, noId).ok,
    deny: !!target && decider && deny(r, f, target, 'dry run', now).ok,
    cancel: cancel(r, viewer.id, now).ok,
    revoke: !!target && decider && revoke(r, f, target, 'dry run', now).ok,
  };
}

function history(r: AccessRequest, sessions: readonly SessionRecord[]) {
  const mine = sessions
    .filter((s) => s.userId === r.userId && s.targetId === r.targetId && s.grantId !== r.grantId)
    .sort((a, b) => ms(b.startedAt) - ms(a.startedAt));
  return {
    count: mine.length,
    recent: mine.slice(0, 10).map((s) => ({
      id: s.id,
      protocol: s.protocol,
      startedAt: s.startedAt,
      endedAt: s.endedAt ?? null,
      endReason: s.endReason ?? null,
    })),
  };
}

export function requestView(viewer: User, r: AccessRequest, ctx: ViewContext): RequestView {
  const target = ctx.targets.get(r.targetId);
  const requester = ctx.users.get(r.userId);
  const overseer = viewer.roles.some((x) => x === 'supervisor' || x === 'admin' || x === 'auditor');
  return {
    id: r.id,
    state: r.state,
    grantStatus: grantStatus(r, ctx.now),
    grantId: r.grantId ?? null,
    protocol: r.protocol,
    startsAt: r.startsAt,
    endsAt: r.endsAt,
    durationMinutes: r.durationMinutes,
    windowLocal: formatWindow(formatLocal(ms(r.startsAt), ctx.timeZone), formatLocal(ms(r.endsAt), ctx.timeZone)),
    purpose: r.purpose,
    ticket: r.ticket ?? null,
    emergency: r.emergency,
    emergencyReason: r.emergencyReason ?? null,
    approvalsRequired: r.approvalsRequired,
    approvals: approvalsOf(r),
    decisions: r.decisions.map((d) => ({
      by: person(ctx.users, d.by),
      at: d.at,
      verdict: d.verdict,
      reason: d.reason ?? null,
    })),
    requester: { ...person(ctx.users, r.userId), email: requester?.email ?? '' },
    target: {
      id: r.targetId,
      name: target?.name ?? r.targetId,
      zone: target?.zone ?? null,
      securityLevel: target?.securityLevel ?? null,
    },
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    closedReason: r.closedReason ?? null,
    can: abilities(viewer, r, target, ctx.now),
    // Why only for overseers of someone else's request: it is the approver's context ("has this vendor
    // worked here before, and how did it end"), not something a vendor needs about their own record.
    ...(overseer && viewer.id !== r.userId ? { earlierSessions: history(r, ctx.sessions) } : {}),
  };
}
