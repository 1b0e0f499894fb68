// /ws/ssh/:grantId — the browser terminal: the same grant check, target relay, recording and command rules as
// native SSH, behind the web session, a same-origin page and a fresh TOTP step-up.
import type { WebSocket } from 'ws';
import { admitFromBrowser, auditRefused } from '../admission/admission.js';
import { userActor } from '../core/model.js';
import type { Config } from '../config.js';
import { unavailable } from '../errors.js';
import type { WsRoute } from '../http/http.js';
import { refuseWhileFenced, type SessionRegistry } from '../sessions.js';
import {
  abandoned,
  type Admission,
  clampSize,
  connectTarget,
  type Live,
  type PtyRequest,
  refusalFor,
  relayChannel,
  RelayError,
  VendorSession,
  type VendorSessionPorts,
} from '../ssh/ssh.js';
import { WsChannel } from './ws-channel.js';
import { detach } from '../background.js';

/** What the browser terminal uses: an SSH session's ports, and the whole config for the connect admission. */
export interface TerminalRoutePorts extends VendorSessionPorts {
  config: Config;
}

export interface TerminalRouteOptions {
  deps: TerminalRoutePorts;
  registry: SessionRegistry;
  /** Relative target credential files resolve against this folder. */
  cwd?: string;
}

const size = (v: string | null, fallback: number): number => {
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 1 ? n : fallback;
};

export interface TerminalRoute extends WsRoute {
  /** Ends every browser terminal session and waits until each is recorded as ended (shutdown). */
  closeAll(reason: 'gateway_stopped', message: string): Promise<void>;
}

export function terminalRoute(o: TerminalRouteOptions): TerminalRoute {
  const { deps } = o;
  const live = new Set<VendorSession>();
  return {
    closeAll: async (reason, message) => {
      await Promise.all([...live].map((s) => s.close(reason, message)));
    },
    pattern: /^\/ws\/ssh\/(?<grantId>[A-Za-z0-9_-]{1,80})$/,
    async accept({ auth, ip, params, query }) {
      refuseWhileFenced(o.registry);
      // The user and the grant as the server knows them now; the path only names which grant.
      const proof = admitFromBrowser(deps, auth, params.grantId ?? '', 'ssh');
      const { user, target, request } = proof;
      const admission: Admission = proof;
      const client = await connectTarget(proof, o.cwd ? { cwd: o.cwd } : {}).catch(async (err: unknown) => {
        const r = await refusalFor(
          deps,
          admission,
          err instanceof RelayError ? err : new RelayError({ code: 'target_unreachable', detail: String(err) }),
        );
        await auditRefused(deps.audit, {
          actor: userActor(user, ip),
          subject: r.subject,
          code: r.code,
          reason: r.line,
          via: 'web',
          ip,
        });
        throw unavailable(r.code, r.line);
      });
      const pty: PtyRequest = clampSize({
        term: 'xterm-256color',
        cols: size(query.get('cols'), 80),
        rows: size(query.get('rows'), 24),
        width: 0,
        height: 0,
        modes: {},
      });
      return {
        // The page left while the target was dialled: an abandoned attempt, audited, never a session.
        abandon: () => {
          client.end();
          const r = abandoned(admission);
          void auditRefused(deps.audit, {
            actor: userActor(user, ip),
            subject: { ...r.subject, grantId: request.grantId },
            code: r.code,
            reason: r.line,
            via: 'web',
            ip,
          }).catch(() => undefined);
        },
        open: (ws: WebSocket) => {
          const channel = new WsChannel(ws);
          const session = new VendorSession({
            deps,
            registry: o.registry,
            front: { on: (_e, l) => ws.once('close', l), end: () => ws.close(1000, 'session ended') },
            via: 'web',
            target: client,
            auth: admission,
            ip,
          });
          live.add(session);
          detach(
            session.ended.then(() => live.delete(session)),
            deps.logger,
            'a browser terminal session failed',
          );
          const controls: Live = { pendingSignals: [] };
          let current = pty;
          channel.control((c) => {
            current = clampSize({ ...current, cols: c.cols, rows: c.rows });
            controls.resize?.(current);
          });
          session
            .start()
            .then(() => session.ready)
            .then(() => {
              channel.tell({ type: 'ready', sessionId: session.id, targetId: target.id, endsAt: request.endsAt });
              relayChannel(session, 'shell', channel, controls, current);
            })
            .catch((err: unknown) => {
              deps.logger.error({ err }, 'could not start a browser terminal session');
              detach(
                session.close('error', 'the gateway could not start the session'),
                deps.logger,
                'could not close a browser terminal session',
              );
            });
        },
      };
    },
  };
}
