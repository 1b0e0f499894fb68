// A supervisor or admin cuts off a live session: visibility, the approver rule, liveness, the audit record, the close.
import { isoTime } from '../clock.js';
import type { TargetConfig } from '../config.js';
import type { SessionRecord, TerminateRequest } from '../core/model.js';
import { mayTerminate, sessionVisibleTo } from '../core/session-access.js';
import type { Deps } from '../deps.js';
import { conflict, denied, notFound } from '../errors.js';
import { SESSION_ID_PATTERN } from '../recording/recording.js';
import { type RemoteSessions, requestTermination, type SessionRegistry } from '../sessions.js';
import { oneLine } from '../text.js';
import { type Caller, actorOf, factsOf } from './facts.js';
import { auditRefusal } from './transact.js';

export interface Terminated {
  /** Whether the live session was closed (the registry waits for it at most its close timeout). */
  closed: boolean;
  /** The session as the store holds it after the close. */
  session: SessionRecord;
}

/**
 * Refusals in order: not visible (404, the same for "no such session": a 404 must not confirm one exists),
 * not an approver of its target (403, audited by the central HTTP hook), not live (409). The termination is
 * recorded before the session is closed: `session.terminated` and the request on the session's record
 * (`terminateRequested`) in one update, so the record of who cut it off exists before the vendor is cut off, and
 * a holder on another node that misses the message below still reads the request (sweep, start-up) and closes it.
 */
export async function terminateSession(
  deps: Pick<Deps, 'store' | 'audit' | 'logger' | 'clock'> & {
    sessions: SessionRegistry;
    remote?: RemoteSessions | undefined;
  },
  targets: ReadonlyMap<string, TargetConfig>,
  caller: Caller,
  sessionId: string,
  reason: string,
): Promise<Terminated> {
  const { store, audit, logger, sessions } = deps;
  const actor = actorOf(caller);
  const refused = (err: unknown, subject: Record<string, unknown>, extra?: Record<string, unknown>) =>
    auditRefusal(audit, logger, actor, 'session.terminate', err, subject, extra);
  let found = store.data.sessions.find((x) => x.id === sessionId);
  // Opened on another node a moment ago: this node's copy may not have it yet.
  if (!found && store.refresh) {
    await store.refresh();
    found = store.data.sessions.find((x) => x.id === sessionId);
  }
  // Only ids the gateway mints count: `..`, `%2f`, `.cast` suffixes are none.
  if (!found || !SESSION_ID_PATTERN.test(sessionId) || !sessionVisibleTo(factsOf(caller.user), found, targets)) {
    const err = notFound('not_found', 'no such session');
    await refused(err, { sessionId: sessionId.slice(0, 100) }, { exists: found !== undefined });
    throw err;
  }
  const s = found;
  const target = targets.get(s.targetId);
  if (!mayTerminate(factsOf(caller.user), target))
    throw denied(
      'not_approver',
      `you are not an approver for ${target?.name ?? s.targetId}; only its supervisors terminate its sessions`,
    );
  const subject = {
    sessionId: s.id,
    grantId: s.grantId,
    requestId: s.requestId,
    userId: s.userId,
    targetId: s.targetId,
  };
  const notLive = async (): Promise<never> => {
    const err = conflict('not_live', 'this session is not live (it has ended)');
    await refused(err, subject);
    throw err;
  };
  // Live here, or live on another node of the cluster (which closes it when asked).
  const holder = sessions.get(s.id) ? undefined : deps.remote?.holderOf(s);
  if (!sessions.get(s.id) && holder === undefined) return notLive();
  const by = oneLine(caller.user.name, 120); // IdP text, bound for a terminal
  const message = `${by} terminated this session: ${reason}`;
  const request: TerminateRequest = { at: isoTime(deps.clock.now()), by: caller.user.id, byName: by, reason, message };
  const recorded = await store.update((d, sink) => {
    // Ended since it was read (its vendor left, its node's end arrived): nothing to terminate, nothing recorded.
    if (!requestTermination(d, s.id, request)) return false;
    sink.record({
      type: 'session.terminated',
      actor,
      subject,
      data: { reason, protocol: s.protocol, ...(holder !== undefined && { node: holder }) },
    });
    return true;
  });
  if (!recorded) return notLive();
  // Here, the registry waits for the adapter at most its close timeout (1 s): "within a second". Another node's
  // session: the message is a hint that saves the holder its next sweep (at most a second later).
  const closed =
    holder !== undefined
      ? await deps.remote!.close(holder, s.id, 'terminated', message)
      : await sessions.close(s.id, 'terminated', message);
  return { closed, session: store.data.sessions.find((x) => x.id === s.id) ?? s };
}
