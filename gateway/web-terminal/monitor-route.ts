// /ws/monitor/:sessionId — a read-only live view of a terminal session for supervisors (of that target) and
// auditors: the current screen first, then every byte the vendor sees. Watching is audited.
import type { WebSocket } from 'ws';
import { WebSocket as Ws } from 'ws';
import { factsOf } from '../broker/facts.js';
import { auditRefusal } from '../broker/transact.js';
import { isApproverFor } from '../core/access.js';
import { userActor } from '../core/model.js';
import type { Deps } from '../deps.js';
import { denied, type GatehouseError, notFound } from '../errors.js';
import type { WsRoute } from '../http/ws.js';
import type { SessionRegistry } from '../sessions.js';

export interface MonitorRouteOptions {
  deps: Deps;
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
      const user = auth.user;
      const roles = user.roles;
      if (!roles.includes('supervisor') && !roles.includes('auditor') && !roles.includes('admin'))
        throw denied('forbidden', 'only supervisors and auditors watch live sessions');
      const id = params.sessionId ?? '';
      const live = registry.get(id);
      const target = live && deps.config.targets.find((t) => t.id === live.targetId);
      const auditorLike = roles.includes('auditor') || roles.includes('admin');
      // A 404 is not audited by the websocket door (only 401/403 are): refused here, so audited here.
      const refuse = async (err: GatehouseError): Promise<never> => {
        await auditRefusal(deps.audit, deps.logger, userActor(user, ip), 'session.watch', err, { sessionId: id.slice(0, 100) }, { exists: live !== undefined });
        throw err;
      };
      // Why one answer for "not live" and "not a target you supervise" (as the sessions API answers): a refusal must
      // not confirm that a session id on someone else's target is live.
      if (!live || (!auditorLike && !(target && isApproverFor(factsOf(user), target))))
        return refuse(notFound('not_live', 'that session is not live'));
      if (!live.watch) return refuse(notFound('not_watchable', 'this session has no terminal to watch'));
      const watch = live.watch.bind(live);
      const vendor = deps.store.data.users.find((u) => u.id === live.userId);
      const subject = { sessionId: live.id, grantId: live.grantId, userId: live.userId, targetId: live.targetId };
      await deps.audit.append({ type: 'session.monitored', actor: userActor(user, ip), subject, data: { via: 'web' } });
      return {
        abandon: () => undefined,
        open: (ws: WebSocket) => {
          let stop: (() => void) | undefined;
          let closed = false;
          const send = (data: Buffer | string) => {
            if (closed || ws.readyState !== Ws.OPEN) return;
            if (ws.bufferedAmount > maxBuffered) {
              closed = true;
              stop?.();
              return ws.close(4008, 'viewer too slow');
            }
            ws.send(data, { binary: typeof data !== 'string' });
          };
          // Read-only: anything the viewer sends is ignored, never relayed.
          ws.on('message', () => undefined);
          ws.once('close', () => {
            closed = true;
            stop?.();
          });
          watch({
            screen: (s) => send(JSON.stringify({ type: 'screen', ...s, sessionId: live.id, targetId: live.targetId, userId: live.userId, userName: vendor?.name ?? live.userId, startedAt: live.startedAt })),
            output: (b) => send(b),
            resize: (cols, rows) => send(JSON.stringify({ type: 'resize', cols, rows })),
            ended: (reason) => {
              send(JSON.stringify({ type: 'ended', reason }));
              if (ws.readyState === Ws.OPEN) ws.close(1000, 'session ended');
            },
          })
            .then((off) => (closed ? off() : (stop = off)))
            .catch(() => {
              send(JSON.stringify({ type: 'ended', reason: 'client_closed' }));
              ws.close(1000, 'session ended');
            });
        },
      };
    },
  };
}
