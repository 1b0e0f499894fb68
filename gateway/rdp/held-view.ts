// The viewer's node's side of a read-only RDP view of a session another node holds: the holder joins its own
// guacd (desktop-viewer.ts) and sends the Guacamole stream over its internal route; here that stream goes on to the
// browser, and the browser's instructions go back through the filter a local viewer's go through (the holder
// filters them again). The socket to the holder is the cluster's (cluster/watch-relay-client.ts).
import { WebSocket } from 'ws';
import { type Instruction, parseInstructions } from '../guac/wire.js';
import { refusalCloseCode } from '../http/http.js';
import type { Logger } from '../log.js';
import type { DesktopView } from '../sessions.js';
import { allowedFromBrowser, type GuacStream, startRelay, VIEWER_MAX_BUFFERED } from './relay.js';

export interface HeldViewOptions {
  /** Why the view stopped when the holder's socket closed other than at the session's end (1000), by close code. */
  lost(code: number): string;
  logger: Logger;
  /** A browser this far behind is cut off (default VIEWER_MAX_BUFFERED). */
  maxBufferedBytes?: number;
}

/**
 * Takes `holder`, an open socket to the holding node's internal route, over at once: what it sends before the
 * browser's socket opens is kept for it, in order (the holder sends `ready` and the first frame as soon as it joined).
 */
export function heldDesktopView(holder: WebSocket, o: HeldViewOptions): DesktopView {
  let listener: ((text: string, ins: Instruction[]) => void) | undefined;
  const early: Array<[string, Instruction[]]> = [];
  let closedWith: number | undefined;
  let onClosed: ((code: number) => void) | undefined;
  holder.on('message', (data: Buffer, binary: boolean) => {
    const text = binary ? '' : data.toString('utf8');
    const r = parseInstructions(text);
    // The holder sends whole instructions, one batch a message: anything else means it is not a Gatehouse node.
    if (!r.ok || r.consumed !== text.length || r.instructions.length === 0) {
      o.logger.warn('the node holding an RDP session sent what is not whole Guacamole instructions; view stopped');
      return holder.terminate();
    }
    if (listener) listener(text, r.instructions);
    else early.push([text, r.instructions]);
  });
  holder.once('close', (code: number) => {
    closedWith = code;
    onClosed?.(code);
  });
  const stream: GuacStream = {
    onFrames(l) {
      listener = l;
      for (const [text, ins] of early.splice(0)) l(text, ins);
    },
    // A viewer sends keep-alives only: nothing to hold back.
    send(text) {
      if (holder.readyState === WebSocket.OPEN) holder.send(text);
      return true;
    },
    onDrain: () => undefined,
    pause: () => holder.pause(),
    resume: () => holder.resume(),
  };

  return {
    abandon: () => holder.close(1000, 'viewer left'),
    open(ws: WebSocket) {
      let done = false;
      const finish = (code: number, reason: string, lost?: string) => {
        if (done) return;
        done = true;
        if (lost !== undefined && ws.readyState === WebSocket.OPEN)
          ws.send(JSON.stringify({ type: 'error', code: 'relay_lost', message: lost }));
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
        if (holder.readyState === WebSocket.OPEN) holder.close(1000, 'viewer left');
      };
      ws.once('close', () => finish(1000, 'viewer left'));
      // 1000: the holder told the viewer why (its `ended`, passed on) and closed; anything else is a lost link.
      onClosed = (code) =>
        code === 1000 ? finish(1000, 'ended') : finish(refusalCloseCode(502), 'relay_lost', o.lost(code));
      startRelay({
        ws,
        link: stream,
        allowed: allowedFromBrowser('viewer'),
        cutOff: {
          maxBufferedBytes: o.maxBufferedBytes ?? VIEWER_MAX_BUFFERED,
          onTooSlow: () => finish(4008, 'viewer too slow'),
        },
      });
      if (closedWith !== undefined) onClosed(closedWith);
    },
  };
}
