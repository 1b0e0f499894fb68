// The websocket side of the browser terminal and the live view: binary frames are terminal bytes, text frames
// JSON control messages. Close codes 4000+status carry a refusal (see gateway/http/ws.ts).
export interface Control {
  type: string;
  [key: string]: unknown;
}

export interface TerminalSocketHandlers {
  bytes(data: Uint8Array): void;
  control(msg: Control): void;
  closed(code: number, reason: string): void;
}

export function wsUrl(path: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

export function openTerminalSocket(path: string, on: TerminalSocketHandlers): WebSocket {
  const ws = new WebSocket(wsUrl(path));
  ws.binaryType = 'arraybuffer';
  ws.addEventListener('message', (ev: MessageEvent) => {
    if (typeof ev.data === 'string') {
      try {
        const msg = JSON.parse(ev.data) as Control;
        if (msg && typeof msg.type === 'string') on.control(msg);
      } catch {
        // not ours: ignored
      }
      return;
    }
    on.bytes(new Uint8Array(ev.data as ArrayBuffer));
  });
  // While the page is in view, a keep-alive a minute counts as activity on the web session (the gateway ignores
  // its content): watching or reading a terminal is using Gatehouse, though no HTTP request is made.
  const keepAlive = window.setInterval(() => {
    if (ws.readyState === WebSocket.OPEN && document.visibilityState === 'visible') ws.send('{"type":"keepalive"}');
  }, 60_000);
  ws.addEventListener('close', (ev) => {
    window.clearInterval(keepAlive);
    on.closed(ev.code, ev.reason);
  });
  return ws;
}

/** What a close means to the person looking at the page. */
export function closeText(code: number, fallback: string): string {
  if (code === 4401) return 'Your sign-in session ended. Sign in again.';
  if (code === 4403) return fallback || 'Refused.';
  if (code === 4404) return fallback || 'That session is not live.';
  if (code === 4008) return 'The live view fell too far behind and was stopped. Reload to watch again.';
  if (code === 1001) return 'The gateway is stopping.';
  if (code === 1009)
    return 'The page sent more than the gateway takes in one message, so the view was closed. Reload to go on.';
  if (code === 1006) return 'The connection to the gateway was lost.';
  return fallback || 'The session ended.';
}
