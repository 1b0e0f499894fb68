// The viewer's node's side of a relayed live view: dials the holder's internal route with a node token. A terminal's
// frames become TerminalWatcher calls again, so the local live view serves them unchanged; an RDP desktop's
// Guacamole stream goes to rdp/'s held view, which serves it as a local read-only join would.
import WebSocket from 'ws';
import type { Clock } from '../clock.js';
import { GatehouseError, notFound, unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import { heldDesktopView } from '../rdp/rdp.js';
import type { DesktopView, DesktopViewRequest, TerminalWatcher } from '../sessions.js';
import type { NodeDirectory } from './directory.js';
import { mintWatchToken, type RelayPurpose } from './internal-auth.js';
import { keepAlive } from './keepalive.js';
import { decodeFrame } from './relay-frames.js';

export interface RelayClientOptions {
  nodeId: string;
  key: Buffer;
  directory: NodeDirectory;
  clock: Clock;
  logger: Logger;
  /** How long dialling the holder may take (default 10 s). */
  connectTimeoutMs?: number;
  /** A ping this often; a holder that misses one whole period is taken as gone (default 10 s). */
  pingEveryMs?: number;
  /** Largest frame accepted from the holder (default 32 MiB: a screen of the largest terminal, with colours). */
  maxPayload?: number;
}

/** The relay: resolves once the holder accepted (with the function that stops it), rejects with why it did not. */
export type WatchRelay = (holder: string, sessionId: string, w: TerminalWatcher) => Promise<() => void>;

const unreachable = (holder: string, cause?: unknown) =>
  unavailable('holder_unreachable', `the node holding this session (${holder}) cannot be reached`, cause);

/** What the holder's refusal means to the viewer. */
async function refusalOf(holder: string, res: import('node:http').IncomingMessage): Promise<GatehouseError> {
  let text = '';
  res.setEncoding('utf8');
  try {
    for await (const chunk of res) {
      text += String(chunk);
      if (text.length > 4096) break;
    }
  } catch {
    // the body is only an explanation
  }
  res.destroy();
  let message = '';
  try {
    message = String((JSON.parse(text) as { error?: { message?: unknown } }).error?.message ?? '');
  } catch {
    message = '';
  }
  if (res.statusCode === 404) return notFound('not_live', 'that session is not live');
  return unavailable(
    'relay_refused',
    `the node holding this session (${holder}) refused to relay it${message ? `: ${message}` : ''}`,
  );
}

/** Why a relayed view stopped when the holder's socket closed without the session's end, by close code. */
export function lostMessage(holder: string, code: number): string {
  return code === 1001
    ? `${holder}, the node holding this session, is stopping; the live view ended`
    : code === 4008
      ? 'the live view fell too far behind on the node holding this session and was stopped'
      : `the connection to ${holder}, the node holding this session, was lost; the live view ended`;
}

/** A socket to the holder's internal route: the caller listens on `ws` at once, then awaits `opened` (or the refusal). */
interface HolderSocket {
  ws: WebSocket;
  opened: Promise<void>;
}

/**
 * Dials `path` on the holder with a node token for `purpose`. The socket is pinged from the moment it opens: a
 * holder that misses a whole period is taken as gone (the socket closes, 1006).
 */
async function dialHolder(
  o: RelayClientOptions,
  holder: string,
  sessionId: string,
  purpose: RelayPurpose,
  path: string,
): Promise<HolderSocket> {
  let base: string | undefined;
  try {
    base = await o.directory.internalUrlOf(holder);
  } catch (err) {
    throw unavailable('directory_unavailable', 'the list of gateway nodes cannot be read now', err);
  }
  if (!base) throw unavailable('holder_unknown', `the node holding this session (${holder}) is not known`);
  const url = new URL(`${base.replace(/\/+$/, '')}${path}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = mintWatchToken(o.key, { sid: sessionId, from: o.nodeId, to: holder, now: o.clock.now(), purpose });
  const ws = new WebSocket(url, {
    headers: { authorization: `Bearer ${token}` },
    handshakeTimeout: o.connectTimeoutMs ?? 10_000,
    maxPayload: o.maxPayload ?? 32 << 20,
    perMessageDeflate: false,
    followRedirects: false,
  });
  ws.on('error', () => undefined);
  const pingEvery = o.pingEveryMs ?? 10_000;
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      refusalOf(holder, res).then(
        (err) => {
          ws.terminate();
          reject(err);
        },
        (err: unknown) => reject(unreachable(holder, err)),
      );
    });
    // After the open a rejection is a no-op: the close that follows tells the rest.
    ws.once('error', (err) => reject(unreachable(holder, err)));
    ws.once('open', () => {
      keepAlive(ws, pingEvery);
      resolve();
    });
  });
  return { ws, opened };
}

export function watchRelay(o: RelayClientOptions): WatchRelay {
  return async (holder, sessionId, w) => {
    const { ws, opened } = await dialHolder(
      o,
      holder,
      sessionId,
      'watch',
      `/internal/watch/${encodeURIComponent(sessionId)}`,
    );
    let up = false;
    let ended = false;
    let stopped = false;
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (stopped || ended) return;
      if (binary) return w.output(data);
      const f = decodeFrame(data.toString('utf8'));
      if (!f) {
        o.logger.warn({ holder, sessionId }, 'the holder sent a frame this node does not read; relay stopped');
        return ws.terminate();
      }
      if (f.t === 'screen') w.screen({ data: f.data, cols: f.cols, rows: f.rows });
      else if (f.t === 'resize') w.resize(f.cols, f.rows);
      else if (f.t === 'plc') w.plc?.(f.event);
      else if (f.t === 'alert') w.alert?.(f.alert);
      else {
        ended = true;
        w.ended(f.reason);
      }
    });
    ws.once('close', (code) => {
      if (!up || stopped || ended) return;
      ended = true;
      if (w.lost) w.lost(lostMessage(holder, code));
      else w.ended('error');
    });
    await opened;
    up = true;
    return () => {
      stopped = true;
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'viewer left');
    };
  };
}

/** The RDP relay: resolves once the holder joined its guacd for the viewer, rejects with why it did not. */
export type DesktopRelay = (holder: string, sessionId: string, v: DesktopViewRequest) => Promise<DesktopView>;

export function desktopRelay(o: RelayClientOptions): DesktopRelay {
  return async (holder, sessionId, v) => {
    const { width, height, dpi } = v.size;
    const query = new URLSearchParams({ width: String(width), height: String(height), dpi: String(dpi), name: v.name });
    const { ws, opened } = await dialHolder(
      o,
      holder,
      sessionId,
      'rdp',
      `/internal/rdp-watch/${encodeURIComponent(sessionId)}?${query.toString()}`,
    );
    // Taken over before the open: the holder's first instructions may come with its answer.
    const view = heldDesktopView(ws, { lost: (code) => lostMessage(holder, code), logger: o.logger });
    await opened;
    return view;
  };
}
