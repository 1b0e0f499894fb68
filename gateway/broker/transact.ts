// How a decision becomes state: the transition and its audit events run inside the store's serialised update, durable together.
import type { AuditPort, StatePort } from '../storage/storage.js';
import type { RequestEvent, Transition } from '../core/access.js';
import type { AccessRequest, Actor } from '../core/model.js';
import type { AuditSink } from '../audit-sink.js';
import type { DbData } from '../store.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import type { Logger } from '../log.js';

export type Applied = Extract<Transition, { ok: true }>;

export const refusalError = (t: Extract<Transition, { ok: false }>) => new GatehouseError(t.kind, t.code, t.message);

/**
 * Runs `step` on the current request INSIDE Store.update. Why inside: updates are serialised, so of two
 * racing decisions the second one reads the first one's result and is refused by the core rules; an
 * approve racing a deny ends in exactly one final state. A refusal throws inside the update, and the
 * store then writes nothing at all.
 */
export function transact(
  store: StatePort,
  requestId: string,
  actor: Actor,
  step: (request: AccessRequest, draft: DbData) => Transition,
): Promise<Applied> {
  return store.update((d, audit) => {
    const i = d.requests.findIndex((r) => r.id === requestId);
    const current = d.requests[i];
    // Requests leave the state only for the history files (closed, older than storage.historyAfterDays): not found here.
    if (!current) throw new GatehouseError('not_found', 'not_found', `no request ${requestId}`);
    const t = step(current, d);
    if (!t.ok) throw refusalError(t);
    d.requests[i] = t.next;
    recordEvents(audit, actor, t.events);
    return t;
  });
}

/**
 * Records a transition's events with its state change, in order. The store makes them durable before
 * the state (and before the caller hears of it), so the chain lists transitions in the order they were
 * applied and nothing is acknowledged before its evidence is on disk.
 */
export function recordEvents(audit: AuditSink, actor: Actor, events: readonly RequestEvent[]): void {
  // The spread keeps each event's type and data together, so the sink checks the data against its type.
  for (const e of events) audit.record({ ...e, actor });
}

/**
 * Audits a refused broker action as `access.denied`, except 401/403: http/audit-refusal.ts (the central
 * error hook) audits those for every route, and auditing them here too would write each twice. What it
 * does not see — 404 on a request id, 409 conflicts (already decided, expired), 400 policy refusals
 * (outside every window) — is recorded here. 5xx are failures, not refusals.
 */
export async function auditRefusal(
  audit: Pick<AuditPort, 'append'>,
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
