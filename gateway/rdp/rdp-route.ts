// /ws/rdp?token=… — the browser's remote desktop and the read-only live view, behind the websocket door (Origin,
// web session). The token names what was granted at mint time; the grant, step-up and roles are checked again
// here, and only then is guacd dialled. On a cluster the live view may be of a desktop another node holds: its
// registry entry then reaches that node, which joins its own guacd (cluster/watch-relay*.ts, held-view.ts).
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { userActor } from '../core/model.js';
import type { Config } from '../config.js';
import { notFound, unavailable } from '../errors.js';
import type { WsRoute } from '../http/http.js';
import type { DesktopView, DesktopViewRequest, SessionRegistry } from '../sessions.js';
import { admitFromBrowser, admitWatcher, auditRefused } from '../admission/admission.js';
import { DEFAULT_TUNING, DesktopSession, type DesktopSessionPorts, type DesktopTuning } from './desktop-session.js';
import { runViewer } from './desktop-viewer.js';
import { dialGuacd, GuacdError, GuacdLink } from './guacd.js';
import { parseClientSize } from './params.js';
import type { RdpTokenStore } from './tokens.js';
import { detach } from '../background.js';

export const newRdpSessionId = () => `ses_${randomBytes(12).toString('base64url')}`;

/** What a vendor or a viewer is told when this node cannot reach guacd (the detail goes to the log and the audit). */
const guacdUnreachable = () =>
  unavailable(
    'guacd_unreachable',
    "the remote desktop service (guacd) is not reachable; tell the site's Gatehouse admin",
  );

/** What the RDP route uses: an RDP session's ports, and the whole config for the connect and watch admissions. */
export interface RdpRoutePorts extends DesktopSessionPorts {
  config: Config;
}

export interface RdpRouteOptions {
  deps: RdpRoutePorts;
  /** Where RDP sessions register; on a cluster also where the live view finds sessions other nodes hold. */
  registry: SessionRegistry;
  /** In this process on one node; in the database on a cluster, so any node may redeem. */
  tokens: RdpTokenStore;
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

  /**
   * A read-only join of `session` for one viewer, a browser here or another node relaying it (its registry entry
   * offers this): guacd is dialled now, so an unreachable guacd is a refusal; the join is made once the socket opens.
   */
  const prepareView = async (session: DesktopSession, v: DesktopViewRequest): Promise<DesktopView> => {
    const size = parseClientSize(v.size);
    if (!session.connectionId) throw notFound('not_live', 'that remote desktop session is not connected (yet)');
    const link = await dial().catch((err: unknown) => {
      deps.logger.warn({ err }, 'guacd could not be reached for a live view');
      throw guacdUnreachable();
    });
    return {
      abandon: () => link.close(),
      open: (ws: WebSocket) =>
        detach(
          runViewer({ session, name: v.name, ws, link, size, handshakeMs: tuning.handshakeMs, logger: deps.logger }),
          deps.logger,
          'an RDP live view failed',
        ),
    };
  };

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
      const redeemed = await tokens.redeem(query.get('token'), { userId: auth.user.id, webSessionId: auth.session.id });
      const { ticket, size } = redeemed;

      if (ticket.kind === 'watch') {
        const { user, live: watched } = await admitWatcher(deps, registry, auth, ticket.sessionId, ip, 'rdp');
        if (!watched.viewDesktop) throw notFound('not_live', 'that remote desktop session is not connected (yet)');
        // Here: guacd dialled; held by another node: that node reached, and it dialled its guacd.
        const view = await watched.viewDesktop({ name: user.name, size });
        const record = deps.store.data.sessions.find((s) => s.id === watched.id);
        try {
          await deps.audit.append({
            type: 'session.monitored',
            actor: userActor(user, ip),
            subject: live.get(watched.id)?.subject ?? {
              sessionId: watched.id,
              grantId: watched.grantId,
              ...(record ? { requestId: record.requestId } : {}),
              userId: watched.userId,
              targetId: watched.targetId,
            },
            // `node`: the session is held by another node and the view is relayed from it.
            data: { via: 'rdp', readOnly: true, ...(watched.heldBy ? { node: watched.heldBy } : {}) },
          });
        } catch (err) {
          view.abandon();
          throw err;
        }
        return view;
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
        throw guacdUnreachable();
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
            view: prepareView,
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
