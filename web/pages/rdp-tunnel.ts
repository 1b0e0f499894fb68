// The browser end of /ws/rdp as a Guacamole tunnel: Guacamole instructions both ways, plus what Gatehouse itself
// says — a JSON refusal before the stream (see gateway/http/ws.ts) and `gatehouse` instructions inside it
// (ready, notice, ended). Why not Guacamole.WebSocketTunnel: it reads a refusal as a broken instruction stream
// and knows neither our close codes nor our messages.
import Guacamole from 'guacamole-common-js';

export interface GatehouseMessage {
  type: string;
  [key: string]: unknown;
}

/** Guacamole's element lengths count codepoints (as guacd writes them), not UTF-16 units. */
const lengthOf = (s: string) => (/[\uD800-\uDBFF]/.test(s) ? [...s].length : s.length);

export function encode(elements: unknown[]): string {
  return `${elements.map((e) => `${lengthOf(String(e))}.${String(e)}`).join(',')};`;
}

/**
 * The whole instructions at the start of `text`, how far they reach, and whether what follows is malformed
 * (rather than merely incomplete).
 */
export function parseInstructions(text: string): {
  instructions: Array<[string, string[]]>;
  consumed: number;
  malformed: boolean;
} {
  const instructions: Array<[string, string[]]> = [];
  let i = 0;
  while (i < text.length) {
    const start = i;
    const els: string[] = [];
    for (;;) {
      const dot = text.indexOf('.', i);
      if (dot === -1) return { instructions, consumed: start, malformed: !/^\d*$/.test(text.slice(i)) };
      const n = dot > i ? Number(text.slice(i, dot)) : Number.NaN;
      if (!Number.isInteger(n) || n < 0) return { instructions, consumed: start, malformed: true };
      let end = dot + 1 + n;
      // Astral characters take two UTF-16 units for one codepoint.
      if (/[\uD800-\uDBFF]/.test(text.slice(dot + 1, end))) {
        end = dot + 1;
        for (let k = 0; k < n && end < text.length; k++)
          end += text.charCodeAt(end) >= 0xd800 && text.charCodeAt(end) <= 0xdbff ? 2 : 1;
      }
      if (end >= text.length) return { instructions, consumed: start, malformed: false };
      els.push(text.slice(dot + 1, end));
      const t = text[end];
      i = end + 1;
      if (t === ';') break;
      if (t !== ',') return { instructions, consumed: start, malformed: true };
    }
    instructions.push([els[0]!, els.slice(1)]);
  }
  return { instructions, consumed: i, malformed: false };
}

/** The instructions of one websocket message (the gateway sends whole ones only); undefined if it is not that. */
export function parseMessage(text: string): Array<[string, string[]]> | undefined {
  const r = parseInstructions(text);
  return r.malformed || r.consumed !== text.length ? undefined : r.instructions;
}

export interface TunnelHandlers {
  gatehouse(msg: GatehouseMessage): void;
  /** The websocket closed: its code (4xxx = a refusal, see closeText) and reason. */
  closed(code: number, reason: string): void;
  /** The first frame is complete: the screen's size, then a `sync` (once). Before it nothing is on the screen. */
  drawn?(): void;
}

/** Status codes for what the websocket's close code means, when no Guacamole `error` said it first. */
const statusOfClose = (code: number): Guacamole.Status.Code =>
  code === 1000
    ? 0
    : code === 4401
      ? 0x0301
      : code === 4403
        ? 0x0303
        : code === 4404
          ? 0x0204
          : code === 4503
            ? 0x0208
            : 0x0207;

export class GatehouseTunnel extends Guacamole.Tunnel {
  private ws: WebSocket | undefined;
  private closing = false;
  private frame: 'none' | 'sized' | 'drawn' = 'none';

  constructor(url: string, on: TunnelHandlers) {
    super();
    // Guacamole.Tunnel sets these as own properties in its constructor: they are replaced here, not overridden.
    this.connect = () => {
      this.moveTo(Guacamole.Tunnel.State.CONNECTING);
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.addEventListener('message', (ev: MessageEvent) => {
        if (typeof ev.data !== 'string') return;
        if (ev.data.startsWith('{')) {
          try {
            on.gatehouse(JSON.parse(ev.data) as GatehouseMessage);
          } catch {
            // not ours
          }
          return;
        }
        const instructions = parseMessage(ev.data);
        if (!instructions) return;
        if (this.state === Guacamole.Tunnel.State.CONNECTING) this.moveTo(Guacamole.Tunnel.State.OPEN);
        for (const [opcode, args] of instructions) {
          if (opcode === 'gatehouse') {
            try {
              on.gatehouse(JSON.parse(args[0] ?? '{}') as GatehouseMessage);
            } catch {
              // malformed: ignored
            }
          } else if (opcode !== '') {
            this.oninstruction?.(opcode, args);
            if (this.frame !== 'drawn') this.watchFirstFrame(opcode, args, on);
          }
        }
      });
      ws.addEventListener('close', (ev) => {
        const wasOpen = this.state !== Guacamole.Tunnel.State.CLOSED;
        this.moveTo(Guacamole.Tunnel.State.CLOSED);
        if (wasOpen && !this.closing && ev.code !== 1000)
          this.onerror?.(new Guacamole.Status(statusOfClose(ev.code), ev.reason || 'connection closed'));
        on.closed(ev.code, ev.reason);
      });
    };
    this.disconnect = () => {
      this.closing = true;
      this.moveTo(Guacamole.Tunnel.State.CLOSED);
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    };
    this.sendMessage = (...elements: unknown[]) => {
      if (this.ws?.readyState === WebSocket.OPEN && elements.length > 0) this.ws.send(encode(elements));
    };
  }

  private watchFirstFrame(opcode: string, args: string[], on: TunnelHandlers): void {
    if (opcode === 'size' && args[0] === '0') this.frame = 'sized';
    else if (opcode === 'sync' && this.frame === 'sized') {
      this.frame = 'drawn';
      on.drawn?.();
    }
  }

  /** What Guacamole.Tunnel's own (untyped) setState does: set, then tell the listener on a change. */
  private moveTo(state: Guacamole.Tunnel.State): void {
    if (state === this.state) return;
    this.state = state;
    this.onstatechange?.(state);
  }

  /** Whether the page is still connected to the gateway. */
  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }
}
