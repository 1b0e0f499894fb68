// A new access request: validate what the vendor asked for against the target's rules and windows.
import { type ActorFacts, type NewId, protocolsOf, refuse, type TargetRules, type Transition } from './access.js';
import type { ErrorCode } from '../errors.js';
import type { AccessRequest, Protocol } from './model.js';
import { canRequest } from './policy.js';
import { coversInterval, formatLocal, nextWindows } from './windows.js';

/** What the vendor sends (the HTTP layer checks JSON shapes; values are checked here). */
export interface RequestInput {
  protocol: string;
  /** ISO 8601 with `Z` or an offset; absent or empty = now. */
  startsAt?: string;
  durationMinutes: number;
  purpose: string;
  ticket?: string;
  emergency?: boolean;
  emergencyReason?: string;
}

/** A form filled at 09:59:50 and sent at 10:00:05 still means "now": that much past is taken as now. */
export const START_SKEW_MS = 60_000;
/** How far ahead a request may start: approvers should decide on near, concrete work. */
export const MAX_LEAD_MS = 30 * 86_400_000;

// Why an explicit zone is required: a bare local time would be read in the *server's* zone.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const TICKET = /^[A-Za-z0-9._#/-]{1,64}$/;

/** Trimmed text if its length (in characters, not UTF-16 units) is within min..max, else undefined. */
const textWithin = (v: unknown, min: number, max: number): string | undefined => {
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  const n = [...s].length;
  return n >= min && n <= max ? s : undefined;
};

const bad = (code: ErrorCode, message: string) => refuse('invalid_input', code, message);

/**
 * Validates `input` for `target` by `requester` at `now` and returns the new pending request with a
 * `request.created` event. `timeZone` is the site's (config site.timezone): windows are wall-clock times.
 */
export function createRequest(
  input: RequestInput,
  target: TargetRules,
  requester: ActorFacts,
  now: number,
  newId: NewId,
  timeZone: string,
): Transition {
  const may = canRequest(requester, target);
  if (!may.allow) return refuse('denied', may.code, may.reason);

  const protocol = input.protocol;
  if (protocol !== 'ssh' && protocol !== 'rdp') return bad('invalid_protocol', 'protocol must be ssh or rdp');
  if (!protocolsOf(target).includes(protocol))
    return bad('protocol_not_available', `${target.id} does not accept ${protocol.toUpperCase()} connections`);

  let start = now;
  if (input.startsAt !== undefined && input.startsAt !== '') {
    const t = typeof input.startsAt === 'string' && ISO_INSTANT.test(input.startsAt) ? Date.parse(input.startsAt) : NaN;
    if (Number.isNaN(t))
      return bad('invalid_start', 'startsAt must be an ISO 8601 time with a zone, e.g. 2026-11-23T10:00:00Z');
    if (t < now - START_SKEW_MS) return bad('start_in_past', 'the requested start is in the past');
    if (t > now + MAX_LEAD_MS) return bad('start_too_far', 'a request may start at most 30 days ahead');
    start = Math.max(t, now);
  }

  const duration = input.durationMinutes;
  if (!Number.isInteger(duration) || duration < 1 || duration > target.maxDurationMinutes)
    return bad(
      'invalid_duration',
      `durationMinutes must be a whole number from 1 to ${target.maxDurationMinutes} for ${target.id}`,
    );

  const purpose = textWithin(input.purpose, 10, 500);
  if (purpose === undefined) return bad('invalid_purpose', 'purpose must be 10 to 500 characters');

  const ticketText = typeof input.ticket === 'string' ? input.ticket.trim() : input.ticket;
  if (ticketText !== undefined && ticketText !== '' && (typeof ticketText !== 'string' || !TICKET.test(ticketText)))
    return bad('invalid_ticket', 'ticket must be at most 64 characters of A-Z a-z 0-9 . _ # / -');
  const ticket = ticketText || undefined;

  const emergency = input.emergency === true;
  const emergencyReason = emergency ? textWithin(input.emergencyReason, 10, 500) : undefined;
  if (emergency && emergencyReason === undefined)
    return bad('emergency_reason_required', 'an emergency request needs a reason of 10 to 500 characters');

  const end = start + duration * 60_000;
  // Why: outside a window the plant is producing; only an emergency, with twice the approvals, goes there.
  if (!emergency && !coversInterval(target.maintenanceWindows, timeZone, start, end)) {
    // Name the first window this duration fits in, not merely the one open now that it overruns.
    const next = nextWindows(target.maintenanceWindows, timeZone, start, 10).find(
      (w) => w.end - Math.max(w.start, start) >= end - start,
    );
    const hint = next
      ? `the next window with room for it is ${formatLocal(next.start, timeZone)} to ${formatLocal(next.end, timeZone)}`
      : `${target.id} has no maintenance window that fits it`;
    return bad(
      'outside_window',
      `${formatLocal(start, timeZone)} to ${formatLocal(end, timeZone)} is not inside one maintenance window of ${target.id}; ` +
        `${hint}, or mark the request as an emergency with a reason (it then needs ${target.approvalsRequired * 2} approvals)`,
    );
  }

  const at = new Date(now).toISOString();
  const request: AccessRequest = {
    id: newId('req'),
    userId: requester.userId,
    targetId: target.id,
    protocol: protocol satisfies Protocol,
    startsAt: new Date(start).toISOString(),
    endsAt: new Date(end).toISOString(),
    durationMinutes: duration,
    purpose,
    ...(ticket ? { ticket } : {}),
    emergency,
    ...(emergencyReason ? { emergencyReason } : {}),
    state: 'pending',
    // Why doubled even inside a window: the requester chose the emergency path, which skips the window
    // check; the four-eyes cost must not depend on whether the check would have passed.
    approvalsRequired: target.approvalsRequired * (emergency ? 2 : 1),
    decisions: [],
    createdAt: at,
    updatedAt: at,
  };
  const event = {
    type: 'request.created' as const,
    subject: { requestId: request.id, targetId: target.id, userId: requester.userId },
    data: {
      protocol,
      startsAt: request.startsAt,
      endsAt: request.endsAt,
      durationMinutes: duration,
      purpose,
      ticket: ticket ?? null,
      emergency,
      emergencyReason: emergencyReason ?? null,
      approvalsRequired: request.approvalsRequired,
    },
  };
  return { ok: true, next: request, events: [event] };
}
