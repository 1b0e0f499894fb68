// The time-driven transitions the scheduler asks for: pending requests whose window passed expire; grants at endsAt end.
import { ms } from '../core/access.js';
import type { AccessRequest } from '../core/model.js';
import { endGrant, expire } from '../core/requests.js';
import type { DbData } from '../store.js';
import type { Applied } from './transact.js';

/** Ids due at `now`: read from the committed state, re-checked inside the update by applyDue. */
export function dueIds(requests: readonly AccessRequest[], now: number): string[] {
  return requests
    .filter(
      (r) =>
        now >= ms(r.endsAt) &&
        // closedReason on an approved request records that grant.ended was emitted: end it once.
        (r.state === 'pending' || (r.state === 'approved' && r.closedReason === undefined)),
    )
    .map((r) => r.id);
}

/**
 * Applies expire / endGrant to `ids` on the draft. Runs inside Store.update, so a decision that won the
 * race just before (an approval in the last second) is seen here and the core rules refuse the expiry.
 */
export function applyDue(d: DbData, ids: readonly string[], now: number): Applied[] {
  const out: Applied[] = [];
  for (const id of ids) {
    const i = d.requests.findIndex((r) => r.id === id);
    const r = d.requests[i];
    if (!r) continue;
    const t = r.state === 'pending' ? expire(r, now) : endGrant(r, now);
    if (!t.ok) continue;
    d.requests[i] = t.next;
    out.push(t);
  }
  return out;
}
