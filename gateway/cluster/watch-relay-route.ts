// The holder's side of a relayed live view, on this node's HTTP listener (what node.internalUrl names), for other
// nodes only. /internal/watch/:sessionId serves what the local terminal live view would: the screen, the output
// that follows, alerts, PLC events, the end. /internal/rdp-watch/:sessionId joins this node's guacd read-only and
// serves the desktop as a local RDP viewer gets it (rdp/desktop-viewer.ts, the same filter on what comes back).
// The viewer was admitted (and audited) on the node that asks; each route takes only tokens minted for it.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { WebSocket as Ws } from 'ws';
import { auditRefusal } from '../broker.js';
import type { Deps } from '../deps.js';
import { denied, GatehouseError, notFound } from '../errors.js';
import { auditViolations, MAX_CLIENT_MESSAGE, type RefusalHook } from '../http/http.js';
import { printable } from '../rdp/rdp.js';
import type { LiveSession, SessionRegistry } from '../sessions.js';
import type { WatchTokenVerifier } from './internal-auth.js';
import { keepAlive } from './keepalive.js';
import { encodeFrame, type RelayFrame } from './relay-frames.js';

export const INTERNAL_PREFIX = '/internal/';
const WATCH_PATH = /^\/internal\/(?<kind>watch|rdp-watch)\/(?<sessionId>[A-Za-z0-9_-]{1,80})$/;
/** The viewer's name the other node sent, made safe for guacd's log (control characters escaped, length capped). */
const viewerName = (name: string | null, from: string) => `${printable(name ?? '', 100) || 'a viewer'} via ${from}`;

export interface InternalWatchOptions {
  deps: Pick<Deps, 'audit' | 'logger' | 'alerts'>;
  registry: SessionRegistry;
  verifier: WatchTokenVerifier;
  /** Audits 401/403 refusals and refused frames (rate-limited per IP, like every other refusal). */
  onRefusal: RefusalHook;
  /**
   * A viewer's node this far behind on a terminal is cut off (default 8 MiB): a slow relay must never slow the
   * vendor. A desktop's relay is cut off by the RDP viewer's own rule (rdp/relay.ts, VIEWER_MAX_BUFFERED).
   */
  maxBufferedBytes?: number;
  /** A ping this often; a viewer's node that misses one whole period is dropped (default 30 s). */
  pingEveryMs?: number;
}

export interface InternalWatchDoor {
  closeAll(): void;
  size(): number;
}

const bearer = (req: IncomingMessage): string | undefined => {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
};

/** Attaches the internal upgrade handler; the public websocket door ignores INTERNAL_PREFIX paths. */
export function attachInternalWatch(server: Server, o: InternalWatchOptions): InternalWatchDoor {
  const { deps, registry } = o;
  // A terminal's channel: the viewer's node sends nothing on it, so a frame bigger than this is hostile.
  const TERMINAL_MAX = 4096;
  const wss = new WebSocketServer({ noServer: true, maxPayload: TERMINAL_MAX, perMessageDeflate: false });
  // A desktop's: what the viewer's browser sent (its public door bounds it by MAX_CLIENT_MESSAGE), filtered there and
  // passed on. The same bound here, so a batch of allowed instructions a local viewer may send (syncs and nops, many
  // at once) is never cut off on its way; only a message no browser could have sent through that door is refused.
  const desktopWss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE, perMessageDeflate: false });
  const maxBuffered = o.maxBufferedBytes ?? 8 << 20;
  const pingEvery = o.pingEveryMs ?? 30_000;
  const all = new Set<WebSocket>();

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://gatehouse.invalid').pathname;
    if (!path.startsWith(INTERNAL_PREFIX)) return;
    socket.on('error', () => undefined);
    void upgrade(req, socket, head, path).catch((err: unknown) => {
      deps.logger.error({ err }, 'internal watch upgrade failed');
      socket.destroy();
    });
  });

  const refuse = async (req: IncomingMessage, socket: Duplex, path: string, err: GatehouseError) => {
    const ip = req.socket.remoteAddress ?? 'unknown';
    if (err.status === 401 || err.status === 403) {
      // Through the hook every refusal goes through: audited, and counted rather than written in a flood.
      const shaped = Object.assign(req, { auth: undefined, originalUrl: path, path });
      await o.onRefusal(err, shaped as unknown as Parameters<RefusalHook>[1]).catch(() => undefined);
    } else if (err.code === 'not_live') {
      // Only a node's valid token gets this far: a session that ended (or moved) while the viewer was admitted.
      await auditRefusal(
        deps.audit,
        deps.logger,
        { kind: 'anonymous', ip },
        'session.watch.relay',
        err,
        { sessionId: WATCH_PATH.exec(path)?.groups?.sessionId ?? '' },
        { path: path.slice(0, 200) },
      );
    }
    // An unknown internal path is a plain 404, unaudited, as on the public websocket door.
    const body = JSON.stringify(err.toJSON());
    socket.end(
      `HTTP/1.1 ${err.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };

  /**
   * Every internal socket: counted for the shutdown, and pinged. A frame ws refuses on it (over `maxPayload`,
   * malformed) closes it and is audited through the refusal hook like the upgrade's refusals, naming the node.
   */
  const track = (ws: WebSocket, req: IncomingMessage, path: string, maxPayload: number, from: string) => {
    all.add(ws);
    auditViolations(
      ws,
      maxPayload,
      async (err, detail) => {
        const shaped = Object.assign(req, { auth: undefined, originalUrl: path, path });
        await o.onRefusal(err, shaped as unknown as Parameters<RefusalHook>[1], { ...detail, from });
      },
      deps.logger,
    );
    // Why: a viewer's node that vanished without a close would otherwise stay a watcher of the session for ever.
    keepAlive(ws, pingEvery);
    ws.once('close', () => all.delete(ws));
  };

  /**
   * A read-only join of an RDP session held here: guacd is dialled before the upgrade (an unreachable guacd is a
   * refusal the other node passes on), then the session's own viewer code serves the socket.
   */
  async function desktop(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    path: string,
    sessionId: string,
  ): Promise<void> {
    const claims = o.verifier.verify(bearer(req), sessionId, 'rdp');
    const found = registry.get(sessionId);
    if (!found?.viewDesktop) throw notFound('not_live', 'that session is not live on this node');
    const q = new URL(req.url ?? '/', 'http://gatehouse.invalid').searchParams;
    const size = { width: Number(q.get('width')), height: Number(q.get('height')), dpi: Number(q.get('dpi')) };
    const view = await found.viewDesktop({ name: viewerName(q.get('name'), claims.from), size });
    if (socket.destroyed) return view.abandon();
    deps.logger.info({ sessionId, for: claims.from }, 'relaying a remote desktop live view to another node');
    let opened = false;
    socket.once('close', () => opened || view.abandon());
    desktopWss.handleUpgrade(req, socket, head, (ws) => {
      opened = true;
      track(ws, req, path, MAX_CLIENT_MESSAGE, claims.from);
      view.open(ws);
    });
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, path: string): Promise<void> {
    let live: { session: LiveSession; watch: NonNullable<LiveSession['watch']>; from: string };
    try {
      const m = WATCH_PATH.exec(path);
      if (!m) throw notFound('not_found', 'no such internal route');
      // A browser always sends Origin on a websocket; a node never does. Cookies mean a browser too.
      if (req.headers.origin !== undefined || req.headers.cookie !== undefined)
        throw denied('browser_refused', 'the internal route serves other gateway nodes, never browsers');
      const sessionId = m.groups?.sessionId ?? '';
      if (m.groups?.kind === 'rdp-watch') return await desktop(req, socket, head, path, sessionId);
      const claims = o.verifier.verify(bearer(req), sessionId, 'watch');
      const found = registry.get(sessionId);
      if (!found?.watch) throw notFound('not_live', 'that session is not live on this node');
      live = { session: found, watch: found.watch.bind(found), from: claims.from };
      deps.logger.info({ sessionId, for: claims.from }, 'relaying a live view to another node');
    } catch (err) {
      if (err instanceof GatehouseError) return refuse(req, socket, path, err);
      throw err;
    }
    if (socket.destroyed) return;
    const { session, watch, from } = live;
    wss.handleUpgrade(req, socket, head, (ws) => {
      track(ws, req, path, TERMINAL_MAX, from);
      // Read-only: nothing the other node sends is acted on.
      ws.on('message', () => undefined);
      let stop: (() => void) | undefined;
      let closed = false;
      const finish = () => {
        if (closed) return;
        closed = true;
        offAlerts?.();
        stop?.();
      };
      const send = (data: Buffer | string) => {
        if (closed || ws.readyState !== Ws.OPEN) return;
        if (ws.bufferedAmount > maxBuffered) {
          finish();
          return ws.close(4008, 'relay too slow');
        }
        ws.send(data, { binary: typeof data !== 'string' });
      };
      const frame = (f: RelayFrame) => send(encodeFrame(f));
      const offAlerts = deps.alerts?.subscribe((a) => {
        if (a.sessionId === session.id) frame({ t: 'alert', alert: a });
      });
      ws.once('close', finish);
      watch({
        screen: (s) => frame({ t: 'screen', data: s.data, cols: s.cols, rows: s.rows }),
        output: (b) => send(b),
        resize: (cols, rows) => frame({ t: 'resize', cols, rows }),
        plc: (event) => frame({ t: 'plc', event }),
        ended: (reason) => {
          frame({ t: 'ended', reason });
          finish();
          if (ws.readyState === Ws.OPEN) ws.close(1000, 'session ended');
        },
      })
        .then((off) => (closed ? off() : (stop = off)))
        .catch(() => {
          frame({ t: 'ended', reason: 'client_closed' });
          ws.close(1000, 'session ended');
        });
    });
  }

  return {
    closeAll() {
      for (const ws of all) ws.close(1001, 'the node is stopping');
    },
    size: () => all.size,
  };
}
