// Query strings of the sessions, commands and audit routes (zod, strict): shapes and outer bounds only.
import { z } from 'zod';
import { AUDIT_EVENT_TYPES } from '../../core/audit.js';
import { END_REASON_KEYS } from '../../core/end-reasons.js';
import type { SessionEndReason } from '../../core/model.js';
import { type ErrorCode, invalidInput } from '../../errors.js';

/** `2026-11-23` (UTC midnight) or an ISO instant with its zone: a time without one would mean the server's zone. */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const instant = z
  .string()
  .max(40)
  .regex(INSTANT, 'an ISO date or date-time with zone, e.g. 2026-11-23 or 2026-11-23T10:00:00Z')
  .transform((s, ctx) => {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) ctx.addIssue({ code: 'custom', message: 'not a valid time' });
    return ms;
  });

// Ids and names are compared for equality only, so an unknown one simply matches nothing; the bounds
// only keep absurd input out.
const id = z.string().min(1).max(100);
const name = z.string().min(1).max(200);
const page = {
  limit: z.coerce.number().int().min(1).max(500).optional(),
  offset: z.coerce.number().int().min(0).max(1_000_000).optional(),
};

const sessionFilter = {
  vendor: id.optional(),
  org: name.optional(),
  target: id.optional(),
  zone: name.optional(),
  protocol: z.enum(['ssh', 'rdp']).optional(),
  from: instant.optional(),
  to: instant.optional(),
  endReason: z.enum(END_REASON_KEYS as [SessionEndReason, ...SessionEndReason[]]).optional(),
  live: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
};

const sessionsQuery = z.strictObject({ ...sessionFilter, ...page });
const commandsQuery = z.strictObject({
  ...sessionFilter,
  ...page,
  /** Case-insensitive substring of the command text; absent = every command. */
  q: z.string().min(1).max(200).optional(),
  verdict: z.enum(['allowed', 'alerted', 'blocked']).optional(),
  session: id.optional(),
});
const auditQuery = z.strictObject({
  from: instant.optional(),
  to: instant.optional(),
  /** One type or several, comma-separated; `session.*` names a family. */
  type: z.string().min(1).max(400).optional(),
  /** A user id or e-mail (exact), or part of a name (case-insensitive). */
  actor: name.optional(),
  target: id.optional(),
  session: id.optional(),
  /** `false` leaves out the signed checkpoints (the page hides them unless asked); absent or `true` keeps them. */
  checkpoints: z.enum(['true', 'false']).optional(),
  /** Records with seq below this (paging newest → oldest). */
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

export type SessionsQuery = z.output<typeof sessionsQuery>;
export type CommandsQuery = z.output<typeof commandsQuery>;
export type AuditQuery = Omit<z.output<typeof auditQuery>, 'type' | 'checkpoints'> & {
  types?: string[];
  typePrefixes?: string[];
  excludeTypes?: string[];
};

/** The code a client gets for a bad query field: `invalid_` and the field in snake_case. */
const QUERY_CODES: Record<string, ErrorCode> = {
  actor: 'invalid_actor',
  before: 'invalid_before',
  endReason: 'invalid_end_reason',
  from: 'invalid_from',
  limit: 'invalid_limit',
  live: 'invalid_live',
  offset: 'invalid_offset',
  org: 'invalid_org',
  protocol: 'invalid_protocol',
  q: 'invalid_q',
  session: 'invalid_session',
  target: 'invalid_target',
  to: 'invalid_to',
  type: 'invalid_type',
  vendor: 'invalid_vendor',
  verdict: 'invalid_verdict',
  zone: 'invalid_zone',
};

function parse<T>(schema: z.ZodType<T>, query: unknown): T {
  // An empty field from a form (`?vendor=`) means "no filter", not "match the empty string".
  const q = Object.fromEntries(Object.entries((query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== ''));
  const r = schema.safeParse(q);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    throw invalidInput('unknown_parameter', `unknown parameter(s): ${issue.keys.slice(0, 5).join(', ')}`);
  const field = String(issue.path[0] ?? 'query');
  throw invalidInput(QUERY_CODES[field] ?? 'invalid_query', `${field}: ${issue.message}`);
}

export const parseSessionsQuery = (q: unknown): SessionsQuery => parse(sessionsQuery, q);
export const parseCommandsQuery = (q: unknown): CommandsQuery => parse(commandsQuery, q);

export function parseAuditQuery(q: unknown): AuditQuery {
  const { type, checkpoints, ...given } = parse(auditQuery, q);
  const rest = checkpoints === 'false' ? { ...given, excludeTypes: ['audit.checkpoint'] } : given;
  if (type === undefined) return rest;
  const types: string[] = [];
  const typePrefixes: string[] = [];
  for (const t of type
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (/^[a-z]+\.\*$/.test(t)) typePrefixes.push(t.slice(0, -1));
    else if ((AUDIT_EVENT_TYPES as readonly string[]).includes(t)) types.push(t);
    else throw invalidInput('invalid_type', `type: ${t.slice(0, 60)} is not an audit event type`);
  }
  return { ...rest, types, typePrefixes };
}

/** The terminate body: a reason the vendor is shown on their terminal and the audit trail keeps. */
const terminateBody = z.strictObject({ reason: z.string().max(2000) });

export function parseTerminate(body: unknown): string {
  const r = terminateBody.safeParse(body ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === 'unrecognized_keys')
      throw invalidInput('unknown_field', `unknown field(s): ${issue.keys.slice(0, 5).join(', ')}`);
    throw invalidInput('reason_required', 'a termination needs a reason (1 to 500 characters)');
  }
  const reason = r.data.reason.trim();
  if (reason.length < 1 || [...reason].length > 500)
    throw invalidInput('reason_required', 'a termination needs a reason (1 to 500 characters)');
  // Why: the reason is written onto the vendor's terminal; a control character there is an escape
  // sequence the supervisor would be sending into someone else's session.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(reason))
    throw invalidInput('invalid_reason', 'the reason must be plain text on one line');
  return reason;
}
