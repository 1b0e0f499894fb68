// /ws/rdp?token=… — the browser's remote desktop and the read-only live view, behind the websocket door (Origin,
// web session). The token names what was granted at mint time; the grant, step-up and roles are checked again
// here, and only then is guacd dialled.
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { userActor } from '../core/model.js';
import type { Config } from '../config.js';
import { notFound, unavailable } from '../errors.js';
import type { WsRoute } from '../http/http.js';
import type { SessionRegistry } from '../sessions.js';
import { admitFromBrowser, admitWatcher, auditRefused } from '../admission/admission.js';
import { DEFAULT_TUNING, DesktopSession, type DesktopSessionPorts, type DesktopTuning } from './desktop-session.js';
import { runViewer } from './desktop-viewer.js';
import { dialGuacd, GuacdError, GuacdLink } from './guacd.js';
import type { RdpTokens } from './tokens.js';
import { detach } from '../background.js';

export const newRdpSessionId = () => `ses_${randomBytes(12).toString('base64url')}`;

/** What the RDP route uses: an RDP session's ports, and the whole config for the connect and watch admissions. */
export interface RdpRoutePorts extends DesktopSessionPorts {
  config: Config;
}

export interface RdpRouteOptions {
  deps: RdpRoutePorts;
  registry: SessionRegistry;
  tokens: RdpTokens;
  /** Relative credential files resolve against this folder. */
  cwd?: string;
  tuning?: Partial<DesktopTuning> & { dialMs?: number };
}

export interface RdpRoute extends WsRoute {
  /** The live RDP session with this id (viewers join it). */
  session(id: string): DesktopSession | undefined;
  /** Ends every RDP session and waits until each is recorded as ended (shutdown). */
  closeAll(reason: 'gateway_stopped', message: string): Promise<void>;
}

export function rdpRoute(o: RdpRouteOptions): RdpRoute {
  const { deps, registry, tokens } = o;
  const tuning: DesktopTuning = { ...DEFAULT_TUNING, ...o.tuning };
  const live = new Map<string, DesktopSession>();
  const guacd = { host: deps.config.guacd.host, port: deps.config.guacd.port };

  const dial = async (): Promise<GuacdLink> =>
    new GuacdLink(await dialGuacd(guacd, o.tuning?.dialMs ?? 5000), { idleMs: tuning.idleMs });

  return {
    pattern: /^\/ws\/rdp$/,
    session: (id) => live.get(id),
    closeAll: async (reason, message) => {
      await Promise.all(
        [...live.values()].map(async (s) => {
          await s.close(reason, message);
          await s.ended;
        }),
      );
    },
    async accept({ auth, ip, query }) {
      const redeemed = tokens.redeem(query.get('token'), { userId: auth.user.id, webSessionId: auth.session.id });
      const { ticket, size } = redeemed;

      if (ticket.kind === 'watch') {
        const { user } = await admitWatcher(deps, registry, auth, ticket.sessionId, ip, 'rdp');
        const session = live.get(ticket.sessionId);
        if (!session?.connectionId) throw notFound('not_live', 'that remote desktop session is not connected (yet)');
        const link = await dial().catch((err: unknown) => {
          deps.logger.warn({ err }, 'guacd could not be reached for a live view');
          throw unavailable(
            'guacd_unreachable',
            "the remote desktop service (guacd) is not reachable; tell the site's Gatehouse admin",
          );
        });
        await deps.audit.append({
          type: 'session.monitored',
          actor: userActor(user, ip),
          subject: session.subject,
          data: { via: 'rdp', readOnly: true },
        });
        return {
          abandon: () => link.close(),
          open: (ws: WebSocket) =>
            detach(
              runViewer({ session, user, ws, link, size, handshakeMs: tuning.handshakeMs, logger: deps.logger }),
              deps.logger,
              'an RDP live view failed',
            ),
        };
      }

      const admission = admitFromBrowser(deps, auth, ticket.grantId, 'rdp');
      let link: GuacdLink;
      try {
        link = await dial();
      } catch (err) {
        // The vendor gets a plain line; where guacd lives and why it failed go to the audit trail and the log.
        const detail = err instanceof GuacdError ? err.message : String(err);
        const subject = {
          grantId: admission.request.grantId,
          requestId: admission.request.id,
          userId: admission.user.id,
          targetId: admission.target.id,
        };
        await auditRefused(deps.audit, {
          actor: userActor(admission.user, ip),
          subject,
          code: 'guacd_unreachable',
          reason: detail,
          via: 'rdp',
          ip,
        });
        throw unavailable(
          'guacd_unreachable',
          "the remote desktop service (guacd) is not reachable; tell the site's Gatehouse admin",
        );
      }
      return {
        abandon: () => link.close(),
        open: (ws: WebSocket) => {
          const session = new DesktopSession({
            deps,
            registry,
            admission,
            sessionId: ticket.sessionId,
            ip,
            size,
            ws,
            link,
            tuning,
            ...(o.cwd ? { cwd: o.cwd } : {}),
          });
          live.set(session.id, session);
          detach(
            session.ended.then(() => live.delete(session.id)),
            deps.logger,
            'an RDP session failed',
          );
          detach(session.start(), deps.logger, 'an RDP session failed to start');
        },
      };
    },
  };
}
