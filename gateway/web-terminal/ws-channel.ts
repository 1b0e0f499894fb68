// The browser terminal's websocket seen as an SSH session channel, so the same relay, recorder, command capture
// and rules serve it. Wire format: binary frames are terminal bytes both ways; text frames are JSON control
// messages (client → gateway: resize; gateway → client: ready, exit, error).
import { Duplex, Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { z } from 'zod';

const Control = z.discriminatedUnion('type', [
  // Any positive size is taken and clamped by the relay (terminal-size.ts): a wide window still gets 1000 columns.
  z.strictObject({
    type: z.literal('resize'),
    cols: z.int().min(1).max(0xffffffff),
    rows: z.int().min(1).max(0xffffffff),
  }),
]);
export type ClientControl = z.infer<typeof Control>;

/** Parses a text frame; undefined for anything that is not a known, well-formed control message. */
export function parseControl(text: string): ClientControl | undefined {
  if (text.length > 1024) return undefined;
  try {
    const r = Control.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export class WsChannel extends Duplex {
  /** The terminal has one screen: stderr goes to it too (as it does in a pty). */
  readonly stderr: Writable;
  private onControl: (c: ClientControl) => void = () => undefined;

  constructor(private readonly ws: WebSocket) {
    // Why modest marks: the relay pauses the target when output fills, so a slow browser holds the target back.
    super({ readableHighWaterMark: 64 * 1024, writableHighWaterMark: 256 * 1024, allowHalfOpen: true });
    this.stderr = new Writable({ highWaterMark: 64 * 1024, write: (chunk: Buffer, _e, cb) => this.send(chunk, cb) });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        const c = parseControl(data.toString('utf8'));
        if (c) this.onControl(c);
        return;
      }
      // Backpressure towards the browser: stop reading its socket while the relay is not taking input.
      if (!this.push(data)) ws.pause();
    });
    ws.once('close', () => {
      this.push(null);
      this.destroy();
      this.stderr.destroy();
    });
  }

  control(listener: (c: ClientControl) => void): void {
    this.onControl = listener;
  }

  /** A control message to the page (JSON text frame). */
  tell(msg: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  exit(codeOrSignal: number | string, _dump?: boolean, desc?: string): void {
    this.tell(
      typeof codeOrSignal === 'number'
        ? { type: 'exit', code: codeOrSignal }
        : { type: 'exit', signal: codeOrSignal, ...(desc ? { message: desc } : {}) },
    );
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send(chunk, cb);
  }

  /**
   * What piled up while the last frame was being written, as one frame. Why: one frame (and one socket write and
   * callback) per SSH packet kept a loop turn between every 32 KiB of output; bulk output now goes out in batches.
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    // The relay ends the channel after the exit status: the terminal session is over.
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'session ended');
    cb();
  }

  private send(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return cb();
    // The callback fires once the frame is handed to the socket: that is the backpressure the relay sees.
    this.ws.send(chunk, { binary: true }, () => cb());
  }
}
