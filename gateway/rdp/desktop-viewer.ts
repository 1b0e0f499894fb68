// A read-only live view of a vendor's RDP session: a second guacd user joining the same connection with
// `read-only`, whose browser may send nothing but keep-alives. It ends with the session. The socket is a browser's,
// or another node's that relays the view to its own browser (cluster/watch-relay-route.ts): the same filter for both.
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { DesktopSession } from './desktop-session.js';
import { GuacdError, type GuacdLink } from './guacd.js';
import { type ClientSize, mustUnderstand, viewerParams } from './params.js';
import { allowedFromBrowser, gatehouseInstruction, startRelay, VIEWER_MAX_BUFFERED } from './relay.js';

export interface DesktopViewerOptions {
  session: DesktopSession;
  /** Who joins, as guacd shows and logs it. */
  name: string;
  ws: WebSocket;
  link: GuacdLink;
  size: ClientSize;
  handshakeMs: number;
  logger: Logger;
  /** A viewer this far behind is cut off (default VIEWER_MAX_BUFFERED). */
  maxBufferedBytes?: number;
}

export async function runViewer(o: DesktopViewerOptions): Promise<void> {
  const { session, ws, link } = o;
  const tell = (msg: Record<string, unknown>) => ws.readyState === ws.OPEN && ws.send(gatehouseInstruction(msg));
  const end = (message: string) => {
    tell({ type: 'ended', message });
    link.close();
    if (ws.readyState === ws.OPEN) ws.close(1000, 'ended');
  };
  ws.once('close', () => link.close());
  link.onEnd(() => end('the live view ended'));
  const connectionId = session.connectionId;
  if (!connectionId) return end('the session is not connected yet');
  try {
    const params = viewerParams(o.size);
    await link.handshake(
      connectionId,
      params,
      { ...o.size, name: `${o.name} (read-only)` },
      o.handshakeMs,
      mustUnderstand(params),
    );
  } catch (err) {
    o.logger.warn({ err, sessionId: session.id }, 'a read-only viewer could not join an RDP session');
    return end(`could not join the session: ${err instanceof GuacdError ? err.message : 'guacd failed'}`);
  }
  const remove = session.addViewer({ ended: (reason) => end(`the session ended (${reason})`) });
  ws.once('close', remove);
  tell({ type: 'ready', readOnly: true, ...session.subject });
  startRelay({
    ws,
    link,
    allowed: allowedFromBrowser('viewer'),
    cutOff: {
      maxBufferedBytes: o.maxBufferedBytes ?? VIEWER_MAX_BUFFERED,
      onTooSlow: () => {
        o.logger.warn({ sessionId: session.id }, 'a read-only viewer of an RDP session fell behind and was cut off');
        // The close first: the link's end would otherwise close the socket as an ordinary end (1000).
        ws.close(4008, 'viewer too slow');
        link.close();
      },
    },
  });
}
