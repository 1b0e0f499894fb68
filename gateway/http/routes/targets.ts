// GET /api/targets (mounted at /api): the targets this user may request or approve, with zones and maintenance windows.
import { Router } from 'express';
import { requireAuth } from '../../auth/auth.js';
import type { Broker } from '../../broker.js';

/** Any signed-in user; what each sees and may do is decided in broker/targets.ts (no hosts or credentials). */
export function targetsRouter(deps: { broker: Pick<Broker, 'listTargets'> }): Router {
  const router = Router();
  router.get('/targets', (req, res) => {
    const { user } = requireAuth(req);
    res.json({ targets: deps.broker.listTargets({ user }) });
  });
  return router;
}
