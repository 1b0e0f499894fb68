// The webhook payload for a request event: a one-line `text` for chat tools plus the request's plain facts.
import { oneLine } from '../text.js';
import type { TargetConfig } from '../config.js';
import { approvalsOf, type RequestEventType } from '../core/access.js';
import type { AccessRequest, User } from '../core/model.js';
import { formatLocal } from '../core/windows.js';
import type { NotifyPayload } from '../notify.js';
import { formatWindow } from './facts.js';

/** The request events that go to webhooks (created, approved, denied, revoked, as docs/reference.md lists). */
export const NOTIFIED: ReadonlySet<RequestEventType> = new Set([
  'request.created',
  'request.approved',
  'request.denied',
  'grant.revoked',
]);

export interface NoticeContext {
  site: string;
  timeZone: string;
  target: TargetConfig | undefined;
  users: ReadonlyMap<string, User>;
  /** Who acted (the decider); absent for the vendor's own creation. */
  by?: User;
}

const nameOf = (u: User | undefined, id: string) => u?.name ?? id;

function outcome(type: RequestEventType, r: AccessRequest, c: NoticeContext): string {
  const by = c.by ? nameOf(c.by, c.by.id) : 'system';
  switch (type) {
    case 'request.created': {
      const n = r.approvalsRequired;
      const needs = `awaiting ${n} approval${n === 1 ? '' : 's'}`;
      return r.emergency ? `EMERGENCY request, ${needs} (${r.emergencyReason ?? ''})` : `new request, ${needs}`;
    }
    case 'request.approved': {
      const names = r.decisions.filter((d) => d.verdict === 'approve').map((d) => nameOf(c.users.get(d.by), d.by));
      return `approved by ${names.join(' and ')}`;
    }
    case 'request.denied':
      return `denied by ${by}${r.closedReason ? ` (${r.closedReason})` : ''}`;
    case 'grant.revoked':
      return `revoked by ${by}${r.closedReason ? ` (${r.closedReason})` : ''}`;
    default:
      return type;
  }
}

/**
 * Never secrets: no credentials, hosts, session ids or e-mail addresses (a chat channel is wider than
 * the approver group). The requester's name and org, the target and the window are what a reader needs.
 */
export function requestNotice(type: RequestEventType, r: AccessRequest, c: NoticeContext): NotifyPayload {
  const requester = c.users.get(r.userId);
  const window = formatWindow(
    formatLocal(Date.parse(r.startsAt), c.timeZone),
    formatLocal(Date.parse(r.endsAt), c.timeZone),
  );
  const who = `${nameOf(requester, r.userId)}${requester?.org ? ` (${requester.org})` : ''}`;
  const where = `${r.targetId}${c.target?.zone ? ` (${c.target.zone})` : ''}`;
  return {
    site: c.site,
    // `text` carries what others typed (an emergency reason, IdP display names): one line, or a vendor could
    // add a forged "…: approved by <supervisor>" line to the channel. Not cut: the JSON fields hold it all anyway.
    text: oneLine(`Request ${r.id} by ${who} for ${where} ${window}: ${outcome(type, r, c)}`, Number.POSITIVE_INFINITY),
    request: {
      id: r.id,
      state: r.state,
      targetId: r.targetId,
      targetName: c.target?.name ?? r.targetId,
      zone: c.target?.zone ?? null,
      protocol: r.protocol,
      startsAt: r.startsAt,
      endsAt: r.endsAt,
      window,
      purpose: r.purpose,
      ticket: r.ticket ?? null,
      emergency: r.emergency,
      emergencyReason: r.emergencyReason ?? null,
      approvals: approvalsOf(r),
      approvalsRequired: r.approvalsRequired,
      requester: { name: nameOf(requester, r.userId), org: requester?.org ?? '' },
      ...(c.by ? { by: { name: c.by.name, org: c.by.org } } : {}),
      reason: r.state === 'denied' || r.state === 'revoked' ? (r.closedReason ?? null) : null,
    },
  };
}
