// Server-side web sessions in the store: minted at login, idle and absolute timeouts, the cookie, and req.auth.
import { createHash, randomBytes } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { type Clock, isoTime } from '../clock.js';
import { type User, userActor } from '../core/model.js';
import { unauthenticated } from '../errors.js';
import type { Logger } from '../log.js';
import type { WebSessionRecord } from '../store.js';
import type { StatePort } from '../storage/storage.js';
import type { AuthContext } from './context.js';
import type { Identity } from './roles.js';

export type SessionEndReason =
  'logout' | 'idle_timeout' | 'absolute_timeout' | 'replaced' | 'user_removed' | 'roles_removed';
export type SessionEndedListener = (sessionId: string, reason: SessionEndReason) => void;

export interface WebSessionOptions {
  /** Web sessions are read and written here, each change with its audit record (no separate audit log). */
  store: Pick<StatePort, 'data' | 'update' | 'refresh'>;
  clock: Clock;
  logger: Logger;
  /** publicUrl is https: Secure cookie with the __Host- prefix. */
  secure: boolean;
  idleMs?: number; // default 30 min
  absoluteMs?: number; // default 12 h
  /** lastSeenAt is written at most this often (default 1 min): one write per minute, not per request. */
  touchEveryMs?: number;
  sweepEveryMs?: number; // default 1 min
}

/** A stable handle for a session in the audit log: the id itself is a bearer secret and must never be written there. */
export const sessionRef = (id: string): string => createHash('sha256').update(id).digest('hex').slice(0, 16);

export { userActor };

type Lookup = { auth: AuthContext } | { expired: SessionEndReason; session: WebSessionRecord } | undefined;

export class WebSessions {
  /** `__Host-` under https: the browser then refuses the cookie from a sibling subdomain or over http (cookie tossing). */
  readonly cookieName: string;
  readonly idleMs: number;
  readonly absoluteMs: number;
  private readonly touchEveryMs: number;
  private readonly listeners = new Set<SessionEndedListener>();
  /** Sessions that made a request on this node and have not ended: what endedElsewhere checks. */
  private readonly servedHere = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: WebSessionOptions) {
    this.cookieName = opts.secure ? '__Host-gh_session' : 'gh_session';
    this.idleMs = opts.idleMs ?? 30 * 60_000;
    this.absoluteMs = opts.absoluteMs ?? 12 * 3_600_000;
    this.touchEveryMs = opts.touchEveryMs ?? 60_000;
  }

  /** Called with the session id whenever a session ends (logout, expiry, replaced): close its websockets. */
  onSessionEnded(listener: SessionEndedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Several nodes share the store: sessions another node ended (a sign-out there, its expiry sweep) end this
   * node's event streams and websockets under them too. The reason stayed with that node: `logout`.
   */
  endedElsewhere(): void {
    if (this.servedHere.size === 0) return;
    const live = new Set(this.opts.store.data.webSessions.map((s) => s.id));
    for (const id of [...this.servedHere]) if (!live.has(id)) this.emit(id, 'logout');
  }

  /**
   * Upserts the user by (issuer, subject) — never by e-mail, which an IdP may hand to someone else — and
   * mints a new session. Why a new id every time, and the old record deleted: an id planted in the browser
   * before login (session fixation) must never become an authenticated session.
   */
  async login(identity: Identity, o: { previousId?: string; ip?: string } = {}): Promise<AuthContext> {
    const now = this.opts.clock.now();
    const at = isoTime(now);
    const session: WebSessionRecord = {
      id: randomBytes(32).toString('base64url'),
      userId: '',
      createdAt: at,
      lastSeenAt: at,
      expiresAt: isoTime(now + this.absoluteMs),
      csrfToken: randomBytes(32).toString('base64url'),
    };
    const { user, replaced } = await this.opts.store.update((db, audit) => {
      const { issuer, subject, name, email, org, groups, roles } = identity;
      let u = db.users.find((x) => x.issuer === issuer && x.subject === subject);
      if (u) Object.assign(u, { name, email, org, groups, roles, lastLoginAt: at });
      else {
        u = { id: `usr_${randomBytes(12).toString('hex')}`, ...identity, createdAt: at, lastLoginAt: at };
        db.users.push(u);
      }
      session.userId = u.id;
      const replaced = db.webSessions.some((s) => s.id === o.previousId);
      db.webSessions = db.webSessions.filter((s) => s.id !== o.previousId);
      db.webSessions.push(session);
      audit.record({
        type: 'auth.login',
        actor: userActor(u, o.ip),
        subject: { userId: u.id },
        data: { issuer: u.issuer, subject: u.subject, roles: u.roles, org: u.org, session: sessionRef(session.id) },
      });
      return { user: structuredClone(u), replaced };
    });
    if (replaced && o.previousId) this.emit(o.previousId, 'replaced');
    return { user, session };
  }

  /**
   * The IdP answered a sign-in of a known user with no Gatehouse role: their stored groups and roles become what it
   * said (none) and every web session of theirs ends. Why: roles are read from the store by every API call and by the
   * SSH front, and a refused login used to leave the old ones there, so a vendor removed from every mapped group kept
   * connecting under their grants. Returns the roles removed, or undefined if there was nothing to remove.
   */
  async dropRoles(
    identity: Identity,
    ip?: string,
  ): Promise<{ userId: string; roles: string[]; sessions: number } | undefined> {
    const found = await this.opts.store.update((db, audit) => {
      const u = db.users.find((x) => x.issuer === identity.issuer && x.subject === identity.subject);
      if (!u || (u.roles.length === 0 && !db.webSessions.some((s) => s.userId === u.id))) return undefined;
      const roles = [...u.roles];
      Object.assign(u, { groups: identity.groups, roles: [] });
      // The refused login is this change's record (the sign-in route records no second one).
      audit.record({
        type: 'auth.login_failed',
        actor: { kind: 'anonymous', ...(ip ? { ip } : {}) },
        subject: { userId: u.id },
        data: {
          reason: 'no_role',
          issuer: identity.issuer,
          subject: identity.subject,
          groups: identity.groups,
          rolesRemoved: roles,
          sessionsEnded: db.webSessions.filter((s) => s.userId === u.id).length,
        },
      });
      return { userId: u.id, roles, sessions: db.webSessions.filter((s) => s.userId === u.id).map((s) => s.id) };
    });
    if (!found) return undefined;
    const ended = await this.endMany(
      found.sessions.map((id) => ({ id, reason: 'roles_removed' as const })),
      ip,
    );
    return { userId: found.userId, roles: found.roles, sessions: ended };
  }

  /** The session cookie's value; none if absent or sent twice (a tossed duplicate must not pick the session). */
  cookieValue(req: Pick<Request, 'headers'>): string | undefined {
    const values = readCookies(req.headers.cookie, this.cookieName);
    return values.length === 1 ? values[0] : undefined;
  }

  /** The caller's valid session from server state, without writing anything (for /metrics and websocket upgrades). */
  peek(req: Pick<Request, 'headers'>): AuthContext | undefined {
    const found = this.lookup(this.cookieValue(req));
    return found && 'auth' in found ? found.auth : undefined;
  }

  /** Deletes the session (ending it everywhere), audits auth.logout and tells listeners. False if it was gone already. */
  async end(sessionId: string, reason: SessionEndReason, ip?: string): Promise<boolean> {
    return (await this.endMany([{ id: sessionId, reason }], ip)) === 1;
  }

  /** Removes every expired session in one write (what the periodic timer runs). */
  async sweep(): Promise<number> {
    const due: Array<{ id: string; reason: SessionEndReason }> = [];
    for (const s of this.opts.store.data.webSessions) {
      const reason = this.expiry(s);
      if (reason) due.push({ id: s.id, reason });
    }
    return due.length === 0 ? 0 : this.endMany(due);
  }

  private async endMany(ends: Array<{ id: string; reason: SessionEndReason }>, ip?: string): Promise<number> {
    const reasons = new Map(ends.map((e) => [e.id, e.reason]));
    // Decided inside the update: of two racing ends (request vs sweep) only one audits and notifies.
    const removed = await this.opts.store.update((db, audit) => {
      const gone = db.webSessions.filter((s) => reasons.has(s.id));
      if (gone.length > 0) db.webSessions = db.webSessions.filter((s) => !reasons.has(s.id));
      for (const s of gone) {
        // The committed users, not db.users: reading the draft's would clone every user for nothing.
        const user = this.opts.store.data.users.find((u) => u.id === s.userId);
        audit.record({
          type: 'auth.logout',
          actor: user ? userActor(user, ip) : { kind: 'system', id: 'gateway' },
          subject: { userId: s.userId },
          data: { reason: reasons.get(s.id) ?? 'logout', session: sessionRef(s.id) },
        });
      }
      return structuredClone(gone);
    });
    for (const s of removed) this.emit(s.id, reasons.get(s.id) ?? 'logout');
    return removed.length;
  }

  /**
   * Sets req.auth from server state only. An expired session is deleted; with `refuseExpired` (the API)
   * the request is refused with 401 session_expired, otherwise (/auth: logging in again) it goes on unauthenticated.
   */
  middleware(o: { refuseExpired: boolean }): RequestHandler {
    return async (req, res, next) => {
      try {
        const id = this.cookieValue(req);
        let found = this.lookup(id);
        // Several nodes: a session signed in on another node a moment ago may not be in this node's copy yet.
        if (!found && id && this.opts.store.refresh) {
          await this.opts.store.refresh();
          found = this.lookup(id);
        }
        if (!found) {
          if (id) this.clearCookie(res); // logged out elsewhere, or the store was reset
        } else if ('expired' in found) {
          await this.end(found.session.id, found.expired, req.socket.remoteAddress);
          this.clearCookie(res);
          if (o.refuseExpired) throw unauthenticated('session_expired', 'your session has expired; sign in again');
        } else {
          req.auth = await this.touch(found.auth);
        }
        next();
      } catch (err) {
        next(err);
      }
    };
  }

  setCookie(res: Response, sessionId: string): void {
    res.cookie(this.cookieName, sessionId, {
      httpOnly: true, // no script (and so no XSS) can read the session id
      sameSite: 'lax', // not sent on cross-site subrequests or POSTs; CSRF tokens cover the rest
      secure: this.opts.secure,
      path: '/',
      maxAge: this.absoluteMs,
    });
  }

  clearCookie(res: Response): void {
    res.clearCookie(this.cookieName, {
      httpOnly: true,
      sameSite: 'lax',
      secure: this.opts.secure,
      path: '/',
    });
  }

  /** Starts the periodic sweep; the timer is unref'd so it never keeps the process alive. */
  start(sweepEveryMs = this.opts.sweepEveryMs ?? 60_000): void {
    this.timer ??= setInterval(() => {
      this.sweep().catch((err) => this.opts.logger.warn({ err }, 'web session sweep failed'));
    }, sweepEveryMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private lookup(id: string | undefined): Lookup {
    if (!id) return undefined;
    const session = this.opts.store.data.webSessions.find((s) => s.id === id);
    if (!session) return undefined;
    this.servedHere.add(id);
    const user = this.opts.store.data.users.find((u) => u.id === session.userId);
    const expired = user ? this.expiry(session) : 'user_removed';
    return expired ? { expired, session } : { auth: { user: user as User, session } };
  }

  private expiry(s: WebSessionRecord): SessionEndReason | undefined {
    const now = this.opts.clock.now();
    if (now >= Date.parse(s.createdAt) + this.absoluteMs || now >= Date.parse(s.expiresAt)) return 'absolute_timeout';
    if (now >= Date.parse(s.lastSeenAt) + this.idleMs) return 'idle_timeout';
    return undefined;
  }

  /**
   * Activity on a websocket of this session (typing in the browser terminal, the live view's keep-alive while
   * visible) counts like a request: a vendor working in a terminal for an hour makes no HTTP calls, and the idle
   * timeout must not end their session under them. Expired or unknown sessions are left alone (the sweep ends them).
   */
  async keepAlive(sessionId: string): Promise<void> {
    const found = this.lookup(sessionId);
    if (found && 'auth' in found) await this.touch(found.auth);
  }

  private async touch(auth: AuthContext): Promise<AuthContext> {
    const now = this.opts.clock.now();
    if (now - Date.parse(auth.session.lastSeenAt) < this.touchEveryMs) return auth;
    const session = await this.opts.store.update((db) => {
      const s = db.webSessions.find((x) => x.id === auth.session.id);
      if (s) s.lastSeenAt = isoTime(now);
      return s ? structuredClone(s) : undefined;
    });
    return session ? { ...auth, session } : auth;
  }

  private emit(sessionId: string, reason: SessionEndReason): void {
    this.servedHere.delete(sessionId);
    for (const l of this.listeners) {
      try {
        l(sessionId, reason);
      } catch (err) {
        this.opts.logger.warn({ err }, 'a session-ended listener failed');
      }
    }
  }
}

/** Every value sent for cookie `name` (a browser may send several with different paths). */
export function readCookies(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      out.push(decodeURIComponent(raw));
    } catch {
      out.push(raw);
    }
  }
  return out;
}
