// The browser terminal's websocket as a channel: output that piles up behind a frame goes out as one frame, in order.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { WsChannel } from '../../gateway/web-terminal/ws-channel.js';

/** Just what WsChannel uses of a ws socket; each frame's callback comes a loop turn later, as a socket's would. */
class FakeSocket extends EventEmitter {
  readyState = 1; // OPEN
  frames: Array<{ data: Buffer; binary: boolean }> = [];
  send(data: Buffer | string, opts: { binary?: boolean } | ((err?: Error) => void), cb?: (err?: Error) => void): void {
    const binary = typeof opts === 'object' ? !!opts.binary : false;
    this.frames.push({ data: Buffer.from(data), binary });
    const done = typeof opts === 'function' ? opts : cb;
    if (done) setImmediate(done);
  }
  pause(): void {}
  resume(): void {}
  close(): void {}
}

describe('WsChannel', () => {
  it('sends what piles up behind a frame as one binary frame, every byte in order, stderr on the same screen', async () => {
    const ws = new FakeSocket();
    const ch = new WsChannel(ws as unknown as WebSocket);
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1000 + i, 0x41 + (i % 26)));
    let callbacks = 0;
    for (const c of chunks) ch.write(c, () => callbacks++);
    await new Promise<void>((resolve) => ch.write(Buffer.from('end'), () => resolve()));
    ch.stderr.write(Buffer.from('warning\r\n'));
    await new Promise((r) => setImmediate(r));
    expect(callbacks).toBe(chunks.length);
    expect(ws.frames.every((f) => f.binary)).toBe(true);
    expect(ws.frames.length).toBeLessThan(chunks.length); // batched, not one frame per write
    expect(
      Buffer.concat(ws.frames.map((f) => f.data)).equals(
        Buffer.concat([...chunks, Buffer.from('end'), Buffer.from('warning\r\n')]),
      ),
    ).toBe(true);
  });

  it('drops output once the socket is no longer open, without throwing or holding the writer', async () => {
    const ws = new FakeSocket();
    const ch = new WsChannel(ws as unknown as WebSocket);
    ws.readyState = 3; // CLOSED
    await new Promise<void>((resolve) => ch.write(Buffer.alloc(10), () => resolve()));
    expect(ws.frames).toHaveLength(0);
  });
});
