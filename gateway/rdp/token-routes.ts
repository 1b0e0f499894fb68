// Mints /ws/rdp tokens (mounted at /api, behind the guard: session, Origin, CSRF). The page states its screen
// size here; the websocket URL then carries the token only.
//   POST /api/grants/:grantId/rdp-token          a vendor opens the remote desktop of their grant
//   POST /api/sessions/:sessionId/rdp-watch-token a supervisor/auditor watches a live RDP session read-only
import { Router } from 'express';
import { requireAuth } from '../auth/auth.js';
import { isoTime } from '../clock.js';
import { refuseWhileFenced, type SessionRegistry } from '../sessions.js';
import { admitFromBrowser, admitWatcher, type BrowserConnectPorts, type WatchPorts } from '../admission/admission.js';
import { parseClientSize } from './params.js';
import { newRdpSessionId } from './rdp-route.js';
import type { RdpTokenStore } from './tokens.js';

export interface RdpTokenRouterOptions {
  /** The two admissions' ports: the state read, never written; the audit log for a refused watch. */
  deps: BrowserConnectPorts & WatchPorts;
  registry: SessionRegistry;
  /** In this process on one node; in the database on a cluster, so any node may redeem. */
  tokens: RdpTokenStore;
}

const ID = /^[A-Za-z0-9_-]{1,80}$/;

export function rdpTokenRouter(o: RdpTokenRouterOptions): Router {
  const { deps, registry, tokens } = o;
  const router = Router();

  router.post('/grants/:grantId/rdp-token', async (req, res) => {
    const auth = requireAuth(req);
    const size = parseClientSize(req.body);
    const grantId = String(req.params.grantId);
    refuseWhileFenced(registry);
    // Checked now so the page can ask for a step-up or explain a closed window before it opens anything.
    const a = admitFromBrowser(deps, auth, ID.test(grantId) ? grantId : '', 'rdp');
    const sessionId = newRdpSessionId();
    const t = await tokens.mint(
      { userId: auth.user.id, webSessionId: auth.session.id },
      { kind: 'connect', grantId: a.request.grantId, sessionId },
      size,
    );
    res.status(201).json({
      token: t.token,
      expiresAt: isoTime(t.expiresAt),
      sessionId,
      endsAt: a.request.endsAt,
      target: { id: a.target.id, name: a.target.name },
    });
  });

  router.post('/sessions/:sessionId/rdp-watch-token', async (req, res) => {
    const auth = requireAuth(req);
    const size = parseClientSize(req.body);
    const sessionId = String(req.params.sessionId);
    const { live } = await admitWatcher(
      deps,
      registry,
      auth,
      ID.test(sessionId) ? sessionId : '',
      req.socket.remoteAddress,
      'rdp',
    );
    const t = await tokens.mint(
      { userId: auth.user.id, webSessionId: auth.session.id },
      { kind: 'watch', sessionId: live.id },
      size,
    );
    res.status(201).json({
      token: t.token,
      expiresAt: isoTime(t.expiresAt),
      sessionId: live.id,
      targetId: live.targetId,
      userId: live.userId,
      startedAt: live.startedAt,
    });
  });

  return router;
}
