// GET /api/events (mounted at /api): server-sent events that keep the request pages live without reloading.
import { Router } from 'express';
import { requireAuth } from '../auth/auth.js';
import { type Broker, factsOf } from '../broker.js';
import type { AlertListener } from '../command-alerts.js';
import type { ActorFacts } from '../core/access.js';
import { GatehouseError } from '../errors.js';

export interface EventsDeps {
  broker: Pick<Broker, 'onChange' | 'canSee' | 'view' | 'currentUser'>;
  /** WebSessions.onSessionEnded: a stream ends with the web session it was opened under (logout, expiry). */
  onSessionEnded?: (listener: (sessionId: string, reason: string) => void) => () => void;
  /** Alerted and blocked commands as they happen: sent as `command.alert` to those who may watch the session. */
  onAlert?: (listener: AlertListener) => () => void;
  mayWatch?: (user: ActorFacts, targetId: string) => boolean;
  /** Comment lines that keep proxies and the browser from timing the stream out (default 15 s). */
  heartbeatMs?: number;
  /** Open streams per user (default 5, a few tabs): each holds a socket and a listener. */
  maxStreamsPerUser?: number;
  /** A client that stops reading is cut off once this much is buffered for it (default 1 MiB). */
  maxBufferedBytes?: number;
}

/**
 * Events: `request.changed` with `{ type, request }` (type = the audit event, request = the same view GET
 * /api/requests/:id answers for this user), `command.alert` (an alerted or blocked command on a session this user
 * may watch), and `session.ended` just before the stream closes. No ids
 * and no replay: a page that reconnects reloads its list, which is simpler than a resumable log.
 */
export function eventsRouter(deps: EventsDeps): Router & { closeAll(): void } {
  const router = Router();
  // Open streams never end by themselves: shutdown ends them so the HTTP server's close need not wait.
  const open = new Set<() => void>();
  const perUser = new Map<string, number>();
  const maxStreams = deps.maxStreamsPerUser ?? 5;
  const maxBuffered = deps.maxBufferedBytes ?? 1 << 20;

  router.get('/events', (req, res) => {
    const { user, session } = requireAuth(req);
    const count = perUser.get(user.id) ?? 0;
    if (count >= maxStreams)
      throw new GatehouseError('rate_limited', 'too_many_streams', `at most ${maxStreams} live event streams`);
    perUser.set(user.id, count + 1);

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write('retry: 5000\n: connected\n\n');

    let closed = false;
    const write = (chunk: string) => {
      if (closed) return;
      res.write(chunk);
      if (res.writableLength > maxBuffered) finish();
    };
    const send = (event: string, data: unknown) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

    // Why the visibility check per event, with the user as the server knows them at that event (not as when the
    // stream opened: a sign-in elsewhere may have changed their roles since): the stream must not tell a vendor, or
    // a former supervisor of a target, about anyone else's request, not even that one changed.
    const offChange = deps.broker.onChange(({ type, request }) => {
      const current = deps.broker.currentUser(user.id);
      if (!current || !deps.broker.canSee(current, request)) return;
      send('request.changed', { type, request: deps.broker.view(current, request) });
    });
    const offAlert = deps.onAlert?.((a) => {
      const current = deps.broker.currentUser(user.id);
      if (current && deps.mayWatch?.(factsOf(current), a.targetId)) send('command.alert', a);
    });
    const offEnded = deps.onSessionEnded?.((sessionId, reason) => {
      if (sessionId !== session.id) return;
      send('session.ended', { reason });
      finish();
    });
    const heartbeat = setInterval(() => write(': ping\n\n'), deps.heartbeatMs ?? 15_000);
    heartbeat.unref();

    function cleanup() {
      if (closed) return;
      closed = true;
      open.delete(finish);
      clearInterval(heartbeat);
      offChange();
      offEnded?.();
      offAlert?.();
      const n = (perUser.get(user.id) ?? 1) - 1;
      if (n > 0) perUser.set(user.id, n);
      else perUser.delete(user.id);
    }
    function finish() {
      cleanup();
      res.end();
    }
    open.add(finish);
    req.on('close', cleanup);
    res.on('close', cleanup);
  });

  return Object.assign(router, {
    closeAll: () => {
      for (const finish of [...open]) finish();
    },
  });
}
