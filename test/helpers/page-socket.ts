// A page's websocket as a test sees it: the terminal bytes it printed, the control frames it got, and its close.
import WebSocket from 'ws';

async function poll<T>(what: string, get: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Monitor {
  ws: WebSocket;
  text(): string;
  controls: Array<Record<string, unknown>>;
  until(re: RegExp, ms?: number): Promise<void>;
  control(type: string, ms?: number): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

export function openMonitor(base: string, path: string, headers: Record<string, string>, origin?: string): Monitor {
  const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers, ...(origin ? { origin } : {}) });
  let out = '';
  const controls: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) out += data.toString('utf8');
    else controls.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
  );
  const describe = () => `output ${JSON.stringify(out.slice(-300))}; controls ${JSON.stringify(controls)}`;
  return {
    ws,
    text: () => out,
    controls,
    until: async (re, ms = 15_000) =>
      void (await poll(`${String(re)} (${describe()})`, () => (re.test(out) ? true : undefined), ms)),
    control: (type, ms = 15_000) =>
      poll(`a ${type} frame (${describe()})`, () => controls.find((c) => c.type === type), ms),
    closed,
  };
}
