// /ws/monitor/:sessionId — a read-only live view of a terminal session for supervisors (of that target) and
// auditors: the current screen first, then every byte the vendor sees. Watching is audited.
import type { WebSocket } from 'ws';
import { WebSocket as Ws } from 'ws';
import { auditRefusal } from '../broker.js';
import type { CommandAlert, CommandAlerts } from '../command-alerts.js';
import { userActor } from '../core/model.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditAppend, StateView } from '../storage/storage.js';
import { isGatehouseError, notFound } from '../errors.js';
import { refusalCloseCode, type WsRoute } from '../http/http.js';
import type { SessionRegistry } from '../sessions.js';
import { admitWatcher } from '../admission/admission.js';

/** What the live view uses: the watch admission's state, config and audit trail, and the command alerts it relays. */
export interface MonitorRoutePorts {
  /** Read only: the vendor's name for the viewer. */
  store: Pick<StateView, 'data'>;
  config: Pick<Config, 'targets'>;
  /** session.monitored and the watch refusal. */
  audit: AuditAppend;
  logger: Logger;
  alerts?: CommandAlerts | undefined;
}

export interface MonitorRouteOptions {
  deps: MonitorRoutePorts;
  registry: SessionRegistry;
  /** A viewer this far behind is cut off (default 8 MiB): a slow viewer must never slow the vendor. */
  maxBufferedBytes?: number;
}

export function monitorRoute(o: MonitorRouteOptions): WsRoute {
  const { deps, registry } = o;
  const maxBuffered = o.maxBufferedBytes ?? 8 << 20;
  return {
    pattern: /^\/ws\/monitor\/(?<sessionId>[A-Za-z0-9_-]{1,80})$/,
    async accept({ auth, ip, params }) {
      const id = params.sessionId ?? '';
      const { user, live } = await admitWatcher(deps, registry, auth, id, ip);
      if (!live.watch) {
        const err = notFound('not_watchable', 'this session has no terminal to watch');
        await auditRefusal(
          deps.audit,
          deps.logger,
          userActor(user, ip),
          'session.watch',
          err,
          { sessionId: id },
          { exists: true },
        );
        throw err;
      }
      const watch = live.watch.bind(live);
      const vendor = deps.store.data.users.find((u) => u.id === live.userId);
      const subject = { sessionId: live.id, grantId: live.grantId, userId: live.userId, targetId: live.targetId };
      // `node`: the session is held by another node and the view is relayed from it.
      const data = { via: 'web' as const, ...(live.heldBy ? { node: live.heldBy } : {}) };
      await deps.audit.append({ type: 'session.monitored', actor: userActor(user, ip), subject, data });
      return {
        abandon: () => undefined,
        open: (ws: WebSocket) => {
          let stop: (() => void) | undefined;
          let closed = false;
          const send = (data: Buffer | string) => {
            if (closed || ws.readyState !== Ws.OPEN) return;
            if (ws.bufferedAmount > maxBuffered) {
              closed = true;
              offAlerts?.();
              stop?.();
              return ws.close(4008, 'viewer too slow');
            }
            ws.send(data, { binary: typeof data !== 'string' });
          };
          // Read-only: anything the viewer sends is ignored, never relayed.
          ws.on('message', () => undefined);
          const alert = (a: CommandAlert) =>
            send(JSON.stringify({ type: 'alert', verdict: a.verdict, text: a.text, reason: a.reason ?? '', at: a.at }));
          // Alerted and blocked commands reach the viewer as the vendor's Enter is judged, before the notice bytes.
          const offAlerts = deps.alerts?.subscribe((a) => {
            if (a.sessionId === live.id) alert(a);
          });
          const refuse = (code: string, message: string, status: number) => {
            send(JSON.stringify({ type: 'error', code, message }));
            if (ws.readyState === Ws.OPEN) ws.close(refusalCloseCode(status), code.slice(0, 60));
          };
          ws.once('close', () => {
            closed = true;
            offAlerts?.();
            stop?.();
          });
          watch({
            screen: (s) =>
              send(
                JSON.stringify({
                  type: 'screen',
                  ...s,
                  sessionId: live.id,
                  targetId: live.targetId,
                  userId: live.userId,
                  userName: vendor?.name ?? live.userId,
                  startedAt: live.startedAt,
                }),
              ),
            output: (b) => send(b),
            resize: (cols, rows) => send(JSON.stringify({ type: 'resize', cols, rows })),
            plc: (event) => send(JSON.stringify({ ...event, type: 'plc', event: event.type })),
            alert,
            lost: (message) => refuse('relay_lost', message, 502),
            ended: (reason) => {
              send(JSON.stringify({ type: 'ended', reason }));
              if (ws.readyState === Ws.OPEN) ws.close(1000, 'session ended');
            },
          })
            .then((off) => (closed ? off() : (stop = off)))
            .catch((err: unknown) => {
              // A relayed view the holder refused or could not give: the viewer reads why.
              if (isGatehouseError(err)) return refuse(err.code, err.message, err.status);
              send(JSON.stringify({ type: 'ended', reason: 'client_closed' }));
              ws.close(1000, 'session ended');
            });
        },
      };
    },
  };
}
