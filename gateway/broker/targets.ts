// GET /api/targets's answer: the targets a user may request or approve, with zones and the next maintenance windows.
import type { TargetConfig } from '../config.js';
import { isApproverFor, protocolsOf } from '../core/access.js';
import type { Protocol, User } from '../core/model.js';
import { canRequest } from '../core/policy.js';
import { nextWindows, type WindowRule } from '../core/windows.js';
import { factsOf } from './facts.js';

export interface TargetView {
  id: string;
  name: string;
  zone: string;
  securityLevel: number;
  protocols: Protocol[];
  maxDurationMinutes: number;
  approvalsRequired: number;
  /** Twice approvalsRequired: what a request outside every window (an emergency) needs. */
  emergencyApprovalsRequired: number;
  /** null: no restriction, any time is inside a window. [] : every request is an emergency. */
  maintenanceWindows: WindowRule[] | null;
  /** The next 5 window spans (adjacent windows joined), open now or later, for the picker. */
  nextWindows: Array<{ start: string; end: string }>;
  timeZone: string;
  canRequest: boolean;
  canApprove: boolean;
}

/**
 * Which targets `user` sees: vendors all (they may request any), supervisors those they approve,
 * auditors and admins all (read-only unless also an approver). Deliberately left out for everyone: host,
 * port, username, credential refs, host-key pins, forwarding and command rules. Vendors never need the
 * plant's addresses (the gateway dials for them) and a list of them is a map for an attacker; admins read
 * the configuration itself.
 */
export function targetViews(user: User, targets: readonly TargetConfig[], timeZone: string, now: number): TargetView[] {
  const facts = factsOf(user);
  const seesAll = user.roles.includes('auditor') || user.roles.includes('admin');
  const out: TargetView[] = [];
  for (const t of targets) {
    const mayRequest = canRequest(facts, t).allow;
    const mayApprove = isApproverFor(facts, t);
    if (!mayRequest && !mayApprove && !seesAll) continue;
    out.push({
      id: t.id,
      name: t.name,
      zone: t.zone,
      securityLevel: t.securityLevel,
      protocols: protocolsOf(t),
      maxDurationMinutes: t.maxDurationMinutes,
      approvalsRequired: t.approvalsRequired,
      emergencyApprovalsRequired: t.approvalsRequired * 2,
      maintenanceWindows: t.maintenanceWindows
        ? t.maintenanceWindows.map((w) => ({ days: [...w.days], from: w.from, to: w.to }))
        : null,
      nextWindows: nextWindows(t.maintenanceWindows, timeZone, now, 5).map((w) => ({
        start: new Date(w.start).toISOString(),
        end: new Date(w.end).toISOString(),
      })),
      timeZone,
      canRequest: mayRequest,
      canApprove: mayApprove,
    });
  }
  return out;
}
