// Browser terminal throughput over /ws/ssh/:grantId: a websocket client (as the page's xterm.js would be) signed
// in as a vendor, a shell on the target through the gateway (pty, recording and command capture on), the
// generator's output counted until a sentinel the command line itself cannot show.
import WebSocket from 'ws';
import type { GatehouseChild } from './gatehouse.js';

export type BrowserTerminalResult =
  { measured: true; mbPerSec: number; bytes: number } | { measured: false; reason: string };

const SENTINEL = '__GH_BENCH_DONE__';

export async function benchBrowserTerminal(
  g: GatehouseChild,
  gen: string,
  bytes: number,
  timeoutMs = 300_000,
): Promise<BrowserTerminalResult> {
  const { origin, grantId } = g.browser;
  const cookie = await g.signIn(); // just before: a sign-in from the start of a long run has idled out
  const ws = new WebSocket(`${g.httpUrl.replace(/^http/, 'ws')}/ws/ssh/${grantId}?cols=200&rows=50`, {
    headers: { cookie },
    origin,
    perMessageDeflate: false,
  });
  try {
    return await new Promise<BrowserTerminalResult>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`browser terminal: no sentinel within ${timeoutMs} ms`)),
        timeoutMs,
      );
      let phase: 'prompt' | 'run' = 'prompt';
      // The last bytes seen, as bytes: the client only counts and looks for the sentinel in what is new. Why: decoding
      // every frame to a string cost this process half a core (the same 2 cores as the gateway, the target's sshd and
      // the pty), where `ssh -tt`'s reference reader only counts (ssh-measure.ts).
      let tail = Buffer.alloc(0);
      const keepTail = (data: Buffer) => (tail = Buffer.concat([tail, data.subarray(-64)]).subarray(-64));
      let received = 0;
      let firstAt = 0;
      ws.on('message', (data: Buffer, binary: boolean) => {
        if (!binary) {
          const msg = JSON.parse(data.toString('utf8')) as { type: string; message?: string };
          if (msg.type === 'error') {
            clearTimeout(timer);
            resolve({ measured: false, reason: `refused: ${msg.message ?? 'unknown'}` });
          }
          return;
        }
        if (phase === 'prompt') {
          if (!/[#$] $/.test(keepTail(data).toString('latin1'))) return;
          phase = 'run';
          tail = Buffer.alloc(0);
          // Quoted apart, so the echoed command line never contains the sentinel.
          ws.send(Buffer.from(`sh ${gen} ${bytes}; echo __GH_BENCH_''DONE__\r`), { binary: true });
          return;
        }
        if (firstAt === 0) firstAt = performance.now();
        received += data.length;
        if (!keepTail(data).includes(SENTINEL)) return;
        const seconds = (performance.now() - firstAt) / 1000;
        clearTimeout(timer);
        resolve({ measured: true, bytes: received, mbPerSec: received / 1e6 / seconds });
      });
      ws.once('close', (code) => reject(new Error(`browser terminal closed (${code}) before the sentinel`)));
      ws.once('error', reject);
    });
  } finally {
    ws.removeAllListeners('close');
    ws.close();
  }
}
