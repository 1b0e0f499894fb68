// Who is calling: attached to each request by the web-session middleware, read by every route.
import type { Request } from 'express';
import type { Role, User } from '../core/model.js';
import { denied, unauthenticated } from '../errors.js';
import type { WebSessionRecord } from '../store.js';

export interface AuthContext {
  user: User;
  session: WebSessionRecord;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the web-session middleware when a valid, unexpired session cookie came with the request. */
    auth?: AuthContext;
  }
}

/** The signed-in caller, or 401: deny by default. */
export function requireAuth(req: Request): AuthContext {
  if (!req.auth) throw unauthenticated('login_required', 'sign in first');
  return req.auth;
}

/** The caller holding at least one of `roles`, or 403. Roles come from server state, never from the client. */
export function requireRole(req: Request, ...roles: Role[]): AuthContext {
  const ctx = requireAuth(req);
  if (!ctx.user.roles.some((r) => roles.includes(r))) throw denied('forbidden', 'your role does not allow this');
  return ctx;
}
