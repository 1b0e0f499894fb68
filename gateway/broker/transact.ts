// How a decision becomes state: the transition runs inside the store's serialised update, then its audit events are appended.
import type { AuditPort } from '../storage/port.js';
import type { RequestEvent, Transition } from '../core/access.js';
import type { AccessRequest, Actor } from '../core/model.js';
import type { DbData } from '../store/schema.js';
import type { StatePort } from '../storage/port.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import type { Logger } from '../log.js';

export type Applied = Extract<Transition, { ok: true }>;

export const refusalError = (t: Extract<Transition, { ok: false }>) =>
  new GatehouseError(t.kind, t.code, t.message);

/**
 * Runs `step` on the current request INSIDE Store.update. Why inside: updates are serialised, so of two
 * racing decisions the second one reads the first one's result and is refused by the core rules; an
 * approve racing a deny ends in exactly one final state. A refusal throws inside the update, and the
 * store then writes nothing at all.
 */
export function transact(
  store: StatePort,
  requestId: string,
  step: (request: AccessRequest, draft: DbData) => Transition,
): Promise<Applied> {
  return store.update((d) => {
    const i = d.requests.findIndex((r) => r.id === requestId);
    const current = d.requests[i];
    // Requests are never deleted (history), so one the caller could see a moment ago is still here.
    if (!current) throw new GatehouseError('not_found', 'not_found', `no request ${requestId}`);
    const t = step(current, d);
    if (!t.ok) throw refusalError(t);
    d.requests[i] = t.next;
    return t;
  });
}

/**
 * Appends `events` in order and resolves once all are durable. Call it right after the awaited update,
 * with no other await in between: updates resolve in commit order, so the audit chain then lists
 * transitions in the order they were applied. The HTTP answer waits for this: nothing is acknowledged
 * before its evidence is on disk.
 */
export function recordEvents(audit: AuditPort, actor: Actor, events: readonly RequestEvent[]): Promise<unknown> {
  return Promise.all(
    events.map((e) => audit.append({ type: e.type, actor, subject: e.subject, data: e.data })),
  );
}

/**
 * Audits a refused broker action as `access.denied`, except 401/403: http/audit-refusal.ts (the central
 * error hook) audits those for every route, and auditing them here too would write each twice. What it
 * does not see — 404 on a request id, 409 conflicts (already decided, expired), 400 policy refusals
 * (outside every window) — is recorded here. 5xx are failures, not refusals.
 */
export async function auditRefusal(
  audit: AuditPort,
  logger: Logger,
  actor: Actor,
  action: string,
  err: unknown,
  subject: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  if (!isGatehouseError(err) || err.status === 401 || err.status === 403 || err.status >= 500) return;
  try {
    await audit.append({
      type: 'access.denied',
      actor,
      subject,
      data: { action, code: err.code, status: err.status, ...extra },
    });
  } catch (e) {
    logger.error({ err: e, action, code: err.code }, 'could not audit a refused action');
  }
}
