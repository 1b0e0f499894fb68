// Browser websocket ↔ guacd: whole instructions both ways, with backpressure, and only the instructions the
// browser's role may send. The page also gets Gatehouse's own messages as a `gatehouse` instruction (JSON).
import { WebSocket } from 'ws';
import { encodeInstruction, type Instruction, parseInstructions } from '../guac/wire.js';

/** What a browser may send guacd, by role. Why `argv` never: it changes connection parameters (credentials) at runtime. */
const BASE_OWNER = ['key', 'mouse', 'touch', 'size', 'sync', 'ack', 'nop', 'disconnect'];
const CLIPBOARD = ['clipboard', 'blob', 'end'];
const DRIVE = ['file', 'blob', 'end', 'get', 'put'];
const VIEWER = ['sync', 'nop', 'disconnect'];

export function allowedFromBrowser(
  role: 'owner' | 'viewer',
  o: { clipboard?: boolean; drive?: boolean } = {},
): ReadonlySet<string> {
  if (role === 'viewer') return new Set(VIEWER);
  return new Set([...BASE_OWNER, ...(o.clipboard ? CLIPBOARD : []), ...(o.drive ? DRIVE : [])]);
}

/** A Gatehouse message to the page, inside the Guacamole stream (the page's tunnel takes it out). */
export const gatehouseInstruction = (msg: Record<string, unknown>): string =>
  encodeInstruction('gatehouse', JSON.stringify(msg));

/** What a relay reads whole instructions from and writes the browser's to: guacd (GuacdLink), or the node holding a relayed view. */
export interface GuacStream {
  onFrames(listener: (text: string, instructions: Instruction[]) => void): void;
  /** False when the far side's buffer is full: wait for onDrain. */
  send(text: string): boolean;
  onDrain(listener: () => void): void;
  pause(): void;
  resume(): void;
}

/** A read-only viewer this far behind is cut off (the terminal live view's rule): a viewer never holds guacd back. */
export const VIEWER_MAX_BUFFERED = 8 << 20;

export interface RelayOptions {
  ws: WebSocket;
  link: GuacStream;
  allowed: ReadonlySet<string>;
  /** Sees every batch guacd sends before the browser does (the session watches for `error` and `disconnect`); false holds it back. */
  observe?(ins: Instruction[]): boolean;
  /** Sees every instruction of the browser's that goes on to guacd (file uploads are audited from these). */
  observeBrowser?(ins: Instruction[]): void;
  /** Bytes queued towards the browser above which guacd is paused (default 4 MiB). */
  highWaterBytes?: number;
  /**
   * Read-only viewers: the browser this far behind is cut off (`onTooSlow`) instead of guacd being paused. Why:
   * guacd paces its frames by its slowest user's lag, so a paused viewer would slow the vendor's own screen.
   */
  cutOff?: { maxBufferedBytes: number; onTooSlow(): void };
}

export interface Relay {
  /** Instructions the browser sent that were not its to send, or malformed messages. */
  dropped(): number;
}

/** Starts relaying; it stops by itself when either side closes (the owner of both decides what that means). */
export function startRelay(o: RelayOptions): Relay {
  const { ws, link, allowed } = o;
  const high = o.highWaterBytes ?? 4 << 20;
  let dropped = 0;
  let paused = false;
  let cut = false;

  link.onFrames((text, ins) => {
    if (cut || o.observe?.(ins) === false || ws.readyState !== WebSocket.OPEN) return;
    if (o.cutOff) {
      if (ws.bufferedAmount <= o.cutOff.maxBufferedBytes) ws.send(text, { binary: false });
      else {
        cut = true;
        o.cutOff.onTooSlow();
      }
      return;
    }
    // One websocket message per batch of whole instructions: the browser's tunnel needs whole instructions.
    ws.send(text, { binary: false }, () => {
      if (paused && ws.bufferedAmount < high / 2) {
        paused = false;
        link.resume();
      }
    });
    if (!paused && ws.bufferedAmount > high) {
      // A slow browser holds guacd back (guacd in turn slows the RDP frames) instead of growing our memory.
      paused = true;
      link.pause();
    }
  });

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const text = isBinary ? undefined : data.toString('utf8');
    const r = text === undefined ? undefined : parseInstructions(text);
    if (!r?.ok || r.consumed !== text!.length) {
      dropped++;
      return;
    }
    let out = '';
    const passed: Instruction[] = [];
    for (const i of r.instructions) {
      if (i.opcode === '') {
        // The tunnel's own keep-alive: answered here, never sent to guacd.
        if (i.args[0] === 'ping' && ws.readyState === WebSocket.OPEN)
          ws.send(encodeInstruction('', 'ping', i.args[1] ?? ''));
        continue;
      }
      if (!allowed.has(i.opcode)) {
        dropped++;
        continue;
      }
      out += encodeInstruction(i.opcode, ...i.args);
      passed.push(i);
    }
    if (passed.length > 0) o.observeBrowser?.(passed);
    if (out && !link.send(out)) {
      ws.pause();
      link.onDrain(() => ws.resume());
    }
  });

  return { dropped: () => dropped };
}
