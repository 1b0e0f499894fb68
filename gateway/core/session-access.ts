// Who may see, replay and terminate a recorded session: pure rules over the session's owner and target.
import { type ActorFacts, isApproverFor, type TargetRules } from './access.js';

/** What the rules read of a session. */
export interface SessionFacts {
  userId: string;
  targetId: string;
}

const overseesAll = (user: ActorFacts) => user.roles.includes('auditor') || user.roles.includes('admin');

/**
 * May `user` see this session (list, detail, commands)? Auditors and admins all; supervisors those on
 * targets whose approver groups they share (the same line as for requests); a vendor their own.
 * Why a vendor sees their own: "what did I do in there" is their record too; others' never.
 * A session on a target no longer configured stays visible to its owner, auditors and admins only.
 */
export function sessionVisibleTo(
  user: ActorFacts,
  session: SessionFacts,
  targets: ReadonlyMap<string, TargetRules>,
): boolean {
  if (overseesAll(user)) return true;
  if (session.userId === user.userId) return true;
  if (!user.roles.includes('supervisor')) return false;
  const target = targets.get(session.targetId);
  return target?.approvers.some((g) => user.groups.includes(g)) ?? false;
}

/**
 * May `user` replay recordings (on top of seeing the session)? SPEC names supervisors and auditors
 * (admins do all either does). A vendor-only user does not: the recording holds every keystroke,
 * including those typed at no-echo prompts, and replay is the overseers' tool.
 */
export const mayReplay = (user: ActorFacts): boolean =>
  user.roles.some((r) => r === 'supervisor' || r === 'auditor' || r === 'admin');

/**
 * May `user` terminate a live session on `target`? Admins always; supervisors only where they approve
 * (role and approver group, as for revoke). Auditors never: they are read-only everywhere.
 */
export function mayTerminate(user: ActorFacts, target: TargetRules | undefined): boolean {
  if (user.roles.includes('admin')) return true;
  return target !== undefined && isApproverFor(user, target);
}

/**
 * Is `user` told of a live session's alerts on `target` (the live view's audience)? Auditors and admins everywhere;
 * supervisors where they approve. A session on a target no longer configured goes to auditors and admins only.
 */
export function mayOversee(user: ActorFacts, target: TargetRules | undefined): boolean {
  if (overseesAll(user)) return true;
  return target !== undefined && isApproverFor(user, target);
}
