// The front of auth/: what other folders use of it. Its own files import each other directly.

export { type AuthContext, requireAuth, requireRole } from './context.js';
export {
  LOGIN_COOKIE,
  LOGIN_TTL_MS,
  type LoginTransaction,
  LoginTransactions,
  type NewLoginTransaction,
  type PendingLogins,
  safeReturnTo,
} from './login-flow.js';
export { createOidcClient, LoginRefused, type OidcClient } from './oidc.js';
export { identityFromClaims, mapRoles } from './roles.js';
export { type SecretBox, secretBoxFor, secretBoxFromKey } from './secret-box.js';
export { performStepUp, requireFreshStepUp } from './step-up.js';
export {
  clearTotp,
  confirmTotp,
  enrolTotp,
  isTotpEnrolled,
  resetTotp,
  totpError,
  type TotpPorts,
  userActor,
  verifyTotp,
} from './totp.js';
export { readCookies, type WebSessionOptions, WebSessions } from './web-session.js';
