// Both ends of a node-to-node socket ping it: a peer that vanished without a close (a cut cable, a frozen process)
// would otherwise hold a relayed live view open for ever.
import type { WebSocket } from 'ws';

/**
 * Pings `ws` every `everyMs` from now on; a peer that has not answered the previous ping when the next falls due is
 * taken as gone (the socket is terminated: its close follows, 1006). Stops with the socket's close.
 */
export function keepAlive(ws: WebSocket, everyMs: number): void {
  let alive = true;
  ws.on('pong', () => (alive = true));
  const ping = setInterval(() => {
    if (!alive) return ws.terminate();
    alive = false;
    ws.ping();
  }, everyMs);
  ping.unref();
  ws.once('close', () => clearInterval(ping));
}
