// GET /api/me: who the caller is, their roles, TOTP and step-up state, and the CSRF token for mutating calls.
import { Router } from 'express';
import { requireAuth } from '../../auth/auth.js';
import { type Clock, isoTime } from '../../clock.js';
import type { Config } from '../../config.js';

export interface MeResponse {
  id: string;
  name: string;
  email: string;
  org: string;
  roles: string[];
  totpEnrolled: boolean;
  /** Until when the last TOTP step-up counts for sensitive actions; null if none or no longer fresh. */
  stepUpUntil: string | null;
  /** How long a step-up counts (stepUp.maxAgeMinutes), to say so where a page asks for one. */
  stepUpMinutes: number;
  csrfToken: string;
  /** The gateway's SSH port, for the `ssh -p PORT target@host` line the pages show; null if SSH is off. */
  sshPort: number | null;
  /** The gateway's SSH host keys (`SHA256:…` and the one-line public key), to check on first connect. */
  sshHostKeys: Array<{ fingerprint: string; publicKey: string }>;
}

/** What /api/me reads: the clock and the step-up age. Nothing here writes. */
export interface MePorts {
  clock: Clock;
  config: Pick<Config, 'stepUp'>;
}

/** `sshPort`: the listening port once the SSH front is up (it starts after HTTP). */
export function meRoutes(
  deps: MePorts,
  sshPort: () => number | undefined = () => undefined,
  hostKeys: () => ReadonlyArray<{ fingerprint: string; publicKey: string }> = () => [],
): Router {
  const router = Router();
  router.get('/me', (req, res) => {
    const { user, session } = requireAuth(req);
    const maxAgeMs = deps.config.stepUp.maxAgeMinutes * 60_000;
    const until = session.stepUpAt ? Date.parse(session.stepUpAt) + maxAgeMs : undefined;
    const body: MeResponse = {
      id: user.id,
      name: user.name,
      email: user.email,
      org: user.org,
      roles: [...user.roles],
      totpEnrolled: user.totp?.confirmed === true,
      stepUpUntil: until !== undefined && until > deps.clock.now() ? isoTime(until) : null,
      stepUpMinutes: deps.config.stepUp.maxAgeMinutes,
      csrfToken: session.csrfToken,
      sshPort: sshPort() ?? null,
      sshHostKeys: hostKeys().map((k) => ({ fingerprint: k.fingerprint, publicKey: k.publicKey })),
    };
    res.set('Cache-Control', 'no-store').json(body);
  });
  return router;
}
