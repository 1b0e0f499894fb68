// The JSON bodies of the request routes (zod, strict): shapes and outer bounds; core/requests*.ts judges the values.
import { z } from 'zod';
import type { CreateInput } from '../../broker.js';
import type { RequestState } from '../../core/model.js';
import { invalidInput } from '../../errors.js';

// Bounds here are generous outer limits (core applies the real ones, e.g. purpose 10–500 characters):
// they only keep absurd input from reaching the rules, the store or the audit log.
const createSchema = z.strictObject({
  targetId: z.string().min(1).max(63),
  protocol: z.enum(['ssh', 'rdp']),
  startsAt: z.string().max(40).optional(),
  durationMinutes: z.number().int().min(1).max(1440),
  purpose: z.string().max(2000),
  ticket: z.string().max(200).optional(),
  emergency: z.boolean().optional(),
  emergencyReason: z.string().max(2000).optional(),
});

const reasonSchema = z.strictObject({ reason: z.string().max(2000) });
const commentSchema = z.strictObject({ comment: z.string().max(2000).optional() });
const emptySchema = z.strictObject({});

/** The code a client gets for a bad field: matches core's codes where core has one (invalid_duration …). */
const FIELD_CODES: Record<string, string> = {
  targetId: 'invalid_target',
  protocol: 'invalid_protocol',
  startsAt: 'invalid_start',
  durationMinutes: 'invalid_duration',
  purpose: 'invalid_purpose',
  ticket: 'invalid_ticket',
  emergency: 'invalid_emergency',
  emergencyReason: 'invalid_emergency_reason',
  reason: 'reason_required',
  comment: 'invalid_comment',
};

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  // express.json leaves the body undefined when none was sent; an action without fields accepts that.
  const r = schema.safeParse(body === undefined ? {} : body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    throw invalidInput('unknown_field', `unknown field(s): ${issue.keys.slice(0, 5).join(', ')}`);
  const field = issue.path[0];
  if (typeof field !== 'string') throw invalidInput('invalid_body', 'the body must be a JSON object');
  const code = FIELD_CODES[field] ?? 'invalid_body';
  throw invalidInput(code, `${field}: ${issue.message}`);
}

export const parseCreate = (body: unknown): CreateInput => parse(createSchema, body);
export const parseReason = (body: unknown): string => parse(reasonSchema, body).reason;
/** An approval's optional comment: absent or blank means none (core bounds the rest, as for a denial's reason). */
export const parseComment = (body: unknown): string | undefined => parse(commentSchema, body).comment;
export const parseEmpty = (body: unknown): void => {
  parse(emptySchema, body);
};

const STATES: readonly RequestState[] = ['pending', 'approved', 'denied', 'cancelled', 'expired', 'revoked'];

/** `?state=pending` or `?state=approved,revoked`; absent = all. */
export function parseStates(q: unknown): RequestState[] {
  if (q === undefined || q === '') return [];
  if (typeof q !== 'string' || q.length > 100)
    throw invalidInput('invalid_state', `state must be one or more of ${STATES.join(', ')}`);
  const out = q.split(',').map((s) => s.trim());
  for (const s of out)
    if (!STATES.includes(s as RequestState))
      throw invalidInput('invalid_state', `state must be one or more of ${STATES.join(', ')}`);
  return out as RequestState[];
}

/** Ids the gateway mints look like `req_` + hex; anything else cannot name a request. */
export const isRequestId = (id: string): boolean => /^req_[A-Za-z0-9_-]{1,64}$/.test(id);
