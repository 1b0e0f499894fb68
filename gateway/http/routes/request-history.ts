// GET /api/requests/history (mounted at /api): every request the overseer may see — decided, expired, revoked,
// still pending — filtered by state, target, vendor and period on the server, one bounded page at a time.
import { type Router } from 'express';
import { z } from 'zod';
import { requireRole } from '../../auth/auth.js';
import type { Broker } from '../../broker.js';
import type { AccessRequest } from '../../core/model.js';
import { type ErrorCode, invalidInput } from '../../errors.js';
import { parseStates } from './request-bodies.js';

const DAY = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const instant = z
  .string()
  .max(40)
  .regex(DAY, 'an ISO date or date-time with zone, e.g. 2026-11-23 or 2026-11-23T10:00:00Z')
  .transform((s, ctx) => {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) ctx.addIssue({ code: 'custom', message: 'not a valid time' });
    return ms;
  });

const historyQuery = z.strictObject({
  state: z.string().max(100).optional(),
  target: z.string().min(1).max(100).optional(),
  /** A user id or e-mail (exact, case-insensitive), or part of the vendor's name. */
  vendor: z.string().min(1).max(200).optional(),
  /** Requests created at or after `from` and before `to`. */
  from: instant.optional(),
  to: instant.optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  offset: z.coerce.number().int().min(0).max(1_000_000).optional(),
});

export type HistoryQuery = z.output<typeof historyQuery>;

/** The code a client gets for a bad query field: `invalid_` and the field. */
const HISTORY_CODES: Record<string, ErrorCode> = {
  state: 'invalid_state',
  target: 'invalid_target',
  vendor: 'invalid_vendor',
  from: 'invalid_from',
  to: 'invalid_to',
  limit: 'invalid_limit',
  offset: 'invalid_offset',
};

export function parseHistoryQuery(query: unknown): HistoryQuery {
  // An empty field from a form means "no filter".
  const q = Object.fromEntries(Object.entries((query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== ''));
  const r = historyQuery.safeParse(q);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    throw invalidInput('unknown_parameter', `unknown parameter(s): ${issue.keys.slice(0, 5).join(', ')}`);
  const field = String(issue.path[0] ?? 'query');
  throw invalidInput(HISTORY_CODES[field] ?? 'invalid_query', `${field}: ${issue.message}`);
}

export interface HistoryPage {
  requests: ReturnType<Broker['search']>['requests'];
  total: number;
  offset: number;
  limit: number;
}

/** Supervisors (their targets' requests), auditors and admins (all): visibility is the broker's, as for one request. */
export function mountRequestHistory(router: Router, broker: Pick<Broker, 'search' | 'currentUser'>): void {
  router.get('/requests/history', (req, res) => {
    const ctx = requireRole(req, 'supervisor', 'auditor', 'admin');
    const q = parseHistoryQuery(req.query);
    const states = parseStates(q.state);
    const vendor = q.vendor?.toLowerCase();
    // One answer per requester, not per request: a long history has few distinct vendors.
    const byUser = new Map<string, boolean>();
    const vendorMatches = (r: AccessRequest) => {
      if (vendor === undefined || r.userId === q.vendor) return true;
      let hit = byUser.get(r.userId);
      if (hit === undefined) {
        const u = broker.currentUser(r.userId);
        hit = u !== undefined && (u.email.toLowerCase() === vendor || u.name.toLowerCase().includes(vendor));
        byUser.set(r.userId, hit);
      }
      return hit;
    };
    const match = (r: AccessRequest) => {
      if (states.length > 0 && !states.includes(r.state)) return false;
      if (q.target !== undefined && r.targetId !== q.target) return false;
      const created = Date.parse(r.createdAt);
      if (q.from !== undefined && created < q.from) return false;
      if (q.to !== undefined && created >= q.to) return false;
      return vendorMatches(r);
    };
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 50;
    const caller = { user: ctx.user, ...(req.socket.remoteAddress ? { ip: req.socket.remoteAddress } : {}) };
    const page = broker.search(caller, match, { offset, limit });
    const body: HistoryPage = { ...page, offset, limit };
    res.json(body);
  });
}
