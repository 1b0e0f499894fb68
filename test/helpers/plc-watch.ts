// What the PLC conduit's tests share: polling until something shows, and a supervisor watching the session live.
import { WebSocket } from 'ws';
import type { SshGateway } from './ssh-gateway.js';
import type { Browser, Me } from './web-login.js';

/** Polls `fn` every 50 ms until it gives a value; throws naming `what` after `ms`. */
export async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The supervisor's live view of `sessionId` (/ws/monitor), open and showing the screen; `events` collects its text frames. */
export async function watchLive(
  h: SshGateway,
  who: { browser: Browser; me: Me },
  sessionId: string,
): Promise<{ socket: WebSocket; events: Array<Record<string, any>> }> {
  const events: Array<Record<string, any>> = [];
  const cookie = who.browser.jar.header(new URL('/ws/', h.url));
  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws/monitor/${sessionId}`, {
    headers: cookie ? { cookie } : {},
    origin: h.url,
  });
  socket.on('message', (data: Buffer, binary: boolean) => {
    if (!binary) events.push(JSON.parse(data.toString('utf8')));
  });
  await until('the live view', () => events.find((e) => e.type === 'screen'));
  return { socket, events };
}
