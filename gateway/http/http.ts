// The front of http/: what other folders use of it. Its own files import each other directly.

export { auditRefusals, type RefusalHook } from './audit-refusal.js';
export { eventsRouter } from './events.js';
export { createMetrics, type Metrics } from './metrics.js';
export { authRoutes } from './routes/auth.js';
export { evidenceRouter } from './routes/evidence.js';
export { keysRouter } from './routes/keys.js';
export { meRoutes } from './routes/me.js';
export { requestsRouter } from './routes/requests.js';
export { sessionsRouter } from './routes/sessions.js';
export { targetsRouter } from './routes/targets.js';
export { totpRouter } from './routes/totp.js';
export { apiGuard, loginRateLimit, stepUpRateLimit } from './security.js';
export { createHttpApp, MAX_JSON_BODY, type RunningHttp, startHttpServer } from './server.js';
export { attachWebSockets, MAX_CLIENT_MESSAGE, refusalCloseCode, type WsRoute } from './ws.js';
export { auditViolations } from './ws-violations.js';
