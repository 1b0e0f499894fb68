// The viewer's node's side of a relayed live view: dials the holder's internal watch route with a node token and
// turns the frames it receives back into TerminalWatcher calls, so the local live view serves them unchanged.
import WebSocket from 'ws';
import type { Clock } from '../clock.js';
import { GatehouseError, notFound, unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { TerminalWatcher } from '../sessions.js';
import type { NodeDirectory } from './directory.js';
import { mintWatchToken } from './internal-auth.js';
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

export function watchRelay(o: RelayClientOptions): WatchRelay {
  const connectTimeout = o.connectTimeoutMs ?? 10_000;
  const pingEvery = o.pingEveryMs ?? 10_000;
  return async (holder, sessionId, w) => {
    let base: string | undefined;
    try {
      base = await o.directory.internalUrlOf(holder);
    } catch (err) {
      throw unavailable('directory_unavailable', 'the list of gateway nodes cannot be read now', err);
    }
    if (!base) throw unavailable('holder_unknown', `the node holding this session (${holder}) is not known`);
    const url = new URL(`${base.replace(/\/+$/, '')}/internal/watch/${encodeURIComponent(sessionId)}`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = mintWatchToken(o.key, { sid: sessionId, from: o.nodeId, to: holder, now: o.clock.now() });
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: connectTimeout,
      maxPayload: o.maxPayload ?? 32 << 20,
      perMessageDeflate: false,
      followRedirects: false,
    });
    ws.on('error', () => undefined);

    return new Promise<() => void>((resolve, reject) => {
      let opened = false;
      let ended = false;
      let stopped = false;
      let ping: NodeJS.Timeout | undefined;
      const stop = () => {
        stopped = true;
        clearInterval(ping);
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1000, 'viewer left');
      };
      ws.once('unexpected-response', (_req, res) => {
        refusalOf(holder, res).then(
          (err) => {
            ws.terminate();
            reject(err);
          },
          (err: unknown) => reject(unreachable(holder, err)),
        );
      });
      ws.once('error', (err) => {
        if (!opened) reject(unreachable(holder, err));
      });
      ws.once('open', () => {
        opened = true;
        let alive = true;
        ws.on('pong', () => (alive = true));
        ping = setInterval(() => {
          if (!alive) return ws.terminate();
          alive = false;
          ws.ping();
        }, pingEvery);
        ping.unref();
        resolve(stop);
      });
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
        clearInterval(ping);
        if (!opened || stopped || ended) return;
        ended = true;
        const why =
          code === 1001
            ? `${holder}, the node holding this session, is stopping; the live view ended`
            : code === 4008
              ? 'the live view fell too far behind on the node holding this session and was stopped'
              : `the connection to ${holder}, the node holding this session, was lost; the live view ended`;
        if (w.lost) w.lost(why);
        else w.ended('error');
      });
    });
  };
}
