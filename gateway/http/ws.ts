// The gateway's one websocket door: every /ws/* upgrade is checked here (route, Origin, web session) before
// a route decides from server state; refusals are audited like HTTP ones, and so is a frame ws refuses on an open
// socket (too large, malformed: http/ws-violations.ts). Browser terminal, live view and RDP
// mount their routes on it (noServer mode, so nothing upgrades behind this check).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { AuthContext, WebSessions } from '../auth/auth.js';
import { denied, GatehouseError, notFound, unauthenticated } from '../errors.js';
import type { Logger } from '../log.js';
import type { RefusalDetail, RefusalHook } from './audit-refusal.js';
import { isAllowedOrigin } from './security.js';
import { auditViolations } from './ws-violations.js';

export interface WsContext {
  auth: AuthContext;
  ip: string;
  params: Record<string, string>;
  query: URLSearchParams;
}

/** What a route prepared: `open` takes the socket (the route owns it from then); `abandon` undoes the preparation if the upgrade never completes. */
export interface WsHandler {
  open(ws: WebSocket): void;
  abandon(): void;
}

export interface WsRoute {
  /** Path pattern with named groups, e.g. /^\/ws\/ssh\/(?<grantId>[A-Za-z0-9_-]{1,64})$/. */
  pattern: RegExp;
  /**
   * Decides from server state (never from what the client sends) and prepares what the socket needs, e.g. the
   * target connection. Throws a GatehouseError to refuse. Runs before the upgrade completes.
   */
  accept(ctx: WsContext): Promise<WsHandler>;
}

export interface WsOptions {
  publicUrl: string;
  sessions: Pick<WebSessions, 'peek' | 'onSessionEnded' | 'keepAlive'>;
  routes: WsRoute[];
  onRefusal?: RefusalHook;
  logger: Logger;
  /** Largest message a client may send (default MAX_CLIENT_MESSAGE). */
  maxPayload?: number;
  /** Paths another upgrade handler on the same server answers (the nodes' internal routes): left untouched here. */
  ignore?: (pathname: string) => boolean;
}

export interface WebSocketDoor {
  /** Closes every open socket (shutdown). */
  closeAll(): void;
  /** Open sockets right now. */
  size(): number;
}

/**
 * The largest websocket message a browser may send the gateway (terminal input, control messages, a batch of
 * Guacamole instructions): the socket is closed with 1009 above it. A relayed RDP view forwards what the browser sent
 * to the node holding the session, filtered, so that node's internal route takes the same bound
 * (cluster/watch-relay-route.ts): a batch this door accepts is never refused on the way.
 */
export const MAX_CLIENT_MESSAGE = 1 << 20;

/** Close codes the pages understand: 4000 + the HTTP status the refusal would have had. */
export const refusalCloseCode = (status: number): number => 4000 + Math.min(Math.max(status, 100), 599);

/**
 * Attaches the upgrade handler. Why refusals from our own origin still complete the handshake: a browser
 * cannot read the HTTP status of a failed upgrade, so the page would only see "failed"; it gets one JSON
 * message `{type:'error', code, message}` and a close code instead, before anything else happens. A foreign
 * Origin never gets a socket at all.
 */
export function attachWebSockets(server: Server, o: WsOptions): WebSocketDoor {
  const maxPayload = o.maxPayload ?? MAX_CLIENT_MESSAGE;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
  });
  const publicOrigin = new URL(o.publicUrl).origin;
  const bySession = new Map<string, Set<WebSocket>>();
  const all = new Set<WebSocket>();

  o.sessions.onSessionEnded((sessionId) => {
    // Why: a socket lives on the web session it was opened under; logout or expiry ends it too.
    for (const ws of bySession.get(sessionId) ?? []) ws.close(refusalCloseCode(401), 'your sign-in session ended');
  });

  const track = (ws: WebSocket, webSessionId: string | undefined) => {
    all.add(ws);
    if (webSessionId) {
      let set = bySession.get(webSessionId);
      if (!set) bySession.set(webSessionId, (set = new Set()));
      set.add(ws);
    }
    ws.once('close', () => {
      all.delete(ws);
      const set = webSessionId ? bySession.get(webSessionId) : undefined;
      set?.delete(ws);
      if (set?.size === 0) bySession.delete(webSessionId!);
    });
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (o.ignore?.(new URL(req.url ?? '/', 'http://gatehouse.invalid').pathname)) return;
    socket.on('error', () => undefined);
    void upgrade(req, socket, head).catch((err: unknown) => {
      o.logger.error({ err }, 'websocket upgrade failed');
      socket.destroy();
    });
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gatehouse.invalid');
    const ip = req.socket.remoteAddress ?? 'unknown';
    const auth = o.sessions.peek(req);
    const sameOrigin = req.headers.origin !== undefined && isAllowedOrigin(req.headers.origin, publicOrigin);
    // The audit hook reads the request like an express one: give it what it reads.
    const audit = async (err: GatehouseError, detail?: RefusalDetail) => {
      const shaped = Object.assign(req, { auth, originalUrl: url.pathname, path: url.pathname });
      await o.onRefusal?.(err, shaped as unknown as Parameters<RefusalHook>[1], detail).catch(() => undefined);
    };
    const refuse = async (err: GatehouseError) => {
      const status = err.status;
      await audit(err);
      if (!sameOrigin) {
        const body = JSON.stringify({ error: { code: err.code, message: err.message } });
        socket.end(
          `HTTP/1.1 ${status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send(JSON.stringify({ type: 'error', code: err.code, message: err.message }));
        ws.close(refusalCloseCode(status), err.code.slice(0, 60));
      });
    };
    try {
      const route = o.routes.find((r) => r.pattern.test(url.pathname));
      if (!route) throw notFound('not_found', 'no such websocket route');
      // A browser always sends Origin on a websocket; missing or foreign means a page elsewhere (or no browser).
      if (!sameOrigin) throw denied('origin_refused', 'websocket from another origin refused');
      if (!auth) throw unauthenticated('login_required', 'sign in first');
      const params = { ...(route.pattern.exec(url.pathname)?.groups ?? {}) };
      const handler = await route.accept({ auth, ip, params, query: url.searchParams });
      // Why again: the web session may have ended (logout, expiry, replaced) while the route prepared, e.g. dialled
      // the target. Its end listener has run already and found no socket to close, so one opened now would outlive
      // the session. Nothing is awaited from here to `track`, so no end can slip in between.
      if (o.sessions.peek(req)?.session.id !== auth.session.id) {
        handler.abandon();
        throw unauthenticated('session_ended', 'your sign-in session ended; sign in again');
      }
      let opened = false;
      // Why: the client may hang up while the route prepared (e.g. dialled the target), or ws may refuse the
      // handshake itself; either way what the route set up must be undone.
      if (socket.destroyed) return handler.abandon();
      socket.once('close', () => opened || handler.abandon());
      wss.handleUpgrade(req, socket, head, (ws) => {
        opened = true;
        track(ws, auth.session.id);
        // A frame ws refuses closes the socket (1009 above the bound) and is audited under this sign-in.
        auditViolations(ws, maxPayload, audit, o.logger);
        // Any frame from the page is activity on its web session (throttled inside keepAlive).
        ws.on('message', () => void o.sessions.keepAlive(auth.session.id).catch(() => undefined));
        handler.open(ws);
      });
    } catch (err) {
      if (err instanceof GatehouseError) return refuse(err);
      throw err;
    }
  }

  return {
    closeAll() {
      for (const ws of all) ws.close(1001, 'the gateway is stopping');
    },
    size: () => all.size,
  };
}
