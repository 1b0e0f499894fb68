// /auth/login, /auth/callback, /auth/logout: the browser side of the OIDC sign-in and the end of a session.
import { type Request, type RequestHandler, type Response, Router } from 'express';
import {
  identityFromClaims,
  LOGIN_COOKIE,
  LoginRefused,
  type OidcClient,
  type PendingLogins,
  readCookies,
  safeReturnTo,
  type WebSessions,
} from '../../auth/auth.js';
import type { Config } from '../../config.js';
import { type ErrorCode, isGatehouseError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SessionRegistry } from '../../sessions.js';
import type { AuditAppend } from '../../storage/storage.js';
import { clientIp, csrfCheck, originCheck } from '../security.js';

export interface AuthRouteDeps {
  /** The public URL and the IdP's role mapping; failed sign-ins are appended to the audit log. State is written only through `sessions`. */
  deps: { config: Pick<Config, 'http' | 'oidc'>; audit: AuditAppend; logger: Logger };
  oidc: OidcClient;
  /** In this process on one node; in the database on a cluster, so the callback may reach any node. */
  logins: PendingLogins;
  sessions: WebSessions;
  /** Live SSH/RDP sessions: those of a user whose roles the IdP removed are closed. */
  liveSessions: Pick<SessionRegistry, 'list' | 'close'>;
  /** Applied to /auth/login and /auth/callback (see http/security.ts loginRateLimit). */
  rateLimit: RequestHandler;
}

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** A failure a browser sees as a page and a script as the API's error JSON. Every IdP-supplied text is escaped. */
function sendFailure(req: Request, res: Response, status: number, code: ErrorCode, message: string): void {
  res.status(status).set('Cache-Control', 'no-store');
  if (req.accepts(['html', 'json']) === 'json') {
    res.json({ error: { code, message } });
    return;
  }
  res
    .type('html')
    .send(
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed - Gatehouse</title>' +
        '<link rel="stylesheet" href="/styles.css"></head><body><main class="auth-error"><h1>Sign-in failed</h1>' +
        `<p class="error" role="alert">${esc(message)}</p><p><code>${esc(code)}</code></p>` +
        '<p><a href="/auth/login">Sign in again</a></p></main></body></html>',
    );
}

const clip = (s: string | null, n = 300): string => (s ?? '').slice(0, n);

export function authRoutes(d: AuthRouteDeps): Router {
  const { config, audit, logger } = d.deps;
  const secure = new URL(config.http.publicUrl).protocol === 'https:';
  const router = Router();
  router.use(originCheck(config.http.publicUrl));
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.use(d.sessions.middleware({ refuseExpired: false }));

  router.get('/login', d.rateLimit, async (req, res) => {
    const returnTo = safeReturnTo(req.query.returnTo);
    let ar: Awaited<ReturnType<OidcClient['startLogin']>>;
    try {
      ar = await d.oidc.startLogin();
    } catch (err) {
      if (!isGatehouseError(err) || err.status < 500) throw err;
      return sendFailure(req, res, err.status, err.code, err.message);
    }
    const id = await d.logins.create({ state: ar.state, nonce: ar.nonce, codeVerifier: ar.codeVerifier, returnTo });
    // Only the random id leaves the server: state, nonce and verifier never reach the browser's storage.
    res.cookie(LOGIN_COOKIE, id, {
      httpOnly: true,
      sameSite: 'lax',
      secure,
      path: '/auth',
      maxAge: d.logins.ttlMs,
    });
    res.redirect(303, ar.url.href);
  });

  router.get('/callback', d.rateLimit, async (req, res) => {
    const ip = clientIp(req);
    const search = new URL(req.originalUrl, 'http://x').search;
    const q = new URLSearchParams(search);
    const fail = async (status: number, code: ErrorCode, reason: string, message: string, extra = {}) => {
      await audit.append({
        type: 'auth.login_failed',
        actor: { kind: 'anonymous', ip },
        data: { reason, ...extra },
      });
      sendFailure(req, res, status, code, message);
    };
    const cookies = readCookies(req.headers.cookie, LOGIN_COOKIE);
    res.clearCookie(LOGIN_COOKIE, { httpOnly: true, sameSite: 'lax', secure, path: '/auth' });
    // Single use: taken (and so deleted) before anything is checked, so a replayed callback finds nothing.
    const tx = cookies.length === 1 ? await d.logins.take(cookies[0]) : undefined;
    const again = 'This sign-in expired or was started in another browser or tab. Start again.';
    if (!tx)
      return fail(400, 'login_state_mismatch', cookies.length ? 'unknown_transaction' : 'missing_login_cookie', again);
    // Why state must match the cookie's transaction: otherwise an attacker could finish their own login in
    // the victim's browser (login CSRF) by sending them to a callback URL with the attacker's code.
    if (q.get('state') !== tx.state) return fail(400, 'login_state_mismatch', 'state_mismatch', again);
    const idpError = q.get('error');
    if (idpError !== null) {
      // Shown only once state matched: a crafted link cannot put its own text on the gateway's page.
      const description = clip(q.get('error_description'));
      const message = `The identity provider refused the sign-in: ${clip(idpError, 100)}${description ? ` (${description})` : ''}`;
      return fail(400, 'idp_error', 'idp_error', message, { error: clip(idpError, 100), description });
    }
    let claims: Record<string, unknown>;
    try {
      claims = await d.oidc.finishLogin(search, tx);
    } catch (err) {
      if (err instanceof LoginRefused) return fail(400, err.code, err.reason, err.message);
      if (isGatehouseError(err) && err.kind === 'unavailable')
        return fail(503, err.code, 'idp_unavailable', err.message);
      logger.error({ err }, 'sign-in callback failed');
      return fail(500, 'internal_error', 'internal_error', 'internal error');
    }
    const identity = identityFromClaims(claims, config.oidc);
    if (!identity.subject || !identity.issuer)
      return fail(400, 'login_failed', 'token_invalid', 'the ID token names no issuer or subject');
    const who = { issuer: identity.issuer, subject: identity.subject, groups: identity.groups };
    // Deny by default: an account the IdP knows but the config maps to no role gets nothing here, and a known
    // user loses the roles the store still holds for them (see WebSessions.dropRoles).
    if (identity.roles.length === 0) {
      const dropped = await d.sessions.dropRoles(identity, ip);
      // And what is already open under those roles: a vendor removed at the IdP keeps no running session either.
      const live = dropped ? d.liveSessions.list().filter((s) => s.userId === dropped.userId) : [];
      await Promise.all(
        live.map((s) =>
          d.liveSessions.close(s.id, 'revoked', 'your Gatehouse access was removed at the identity provider'),
        ),
      );
      const message = 'Your account has no Gatehouse role. Ask an administrator for access.';
      // Roles removed: that change was recorded (auth.login_failed) together with it, in dropRoles.
      if (dropped) return sendFailure(req, res, 403, 'no_role', message);
      return fail(403, 'no_role', 'no_role', message, who);
    }
    const { session } = await d.sessions.login(identity, { previousId: d.sessions.cookieValue(req), ip });
    d.sessions.setCookie(res, session.id);
    res.redirect(303, tx.returnTo);
  });

  const csrf = csrfCheck();
  router.post(
    '/logout',
    (req, res, next) => {
      if (req.auth) return csrf(req, res, next);
      d.sessions.clearCookie(res); // nothing to end: logging out twice is not an error
      res.status(204).end();
    },
    async (req, res) => {
      // Deleting the record ends the session everywhere: the cookie alone is worthless from now on.
      if (req.auth) await d.sessions.end(req.auth.session.id, 'logout', clientIp(req));
      d.sessions.clearCookie(res);
      res.status(204).end();
    },
  );
  return router;
}
