// The viewer's node's relay client against holders that misbehave (real sockets on loopback): refusals become clear
// errors, a broken or silent holder ends the view with a message, and nothing a holder sends takes the node down.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { systemClock } from '../../gateway/clock.js';
import { WatchTokenVerifier } from '../../gateway/cluster/internal-auth.js';
import { watchRelay } from '../../gateway/cluster/watch-relay-client.js';
import { GatehouseError } from '../../gateway/errors.js';
import { silentLogger } from '../../gateway/log.js';
import type { SessionEndReason } from '../../gateway/core/model.js';
import type { TerminalWatcher } from '../../gateway/sessions.js';
import { freePort } from '../helpers/ports.js';

const key = randomBytes(32);
const SID = 'ses_relayclient0001';
const servers: Server[] = [];
const upgraded = new Set<import('node:stream').Duplex>();
afterEach(async () => {
  // Upgraded sockets are no longer the HTTP server's to close.
  for (const s of upgraded) s.destroy();
  upgraded.clear();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** An HTTP server on loopback whose upgrades `onUpgrade` answers; returns its base URL. */
async function holder(onUpgrade: (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => void) {
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    upgraded.add(socket);
    onUpgrade(req, socket, head);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const relayTo = (url: string | undefined | (() => never), o: { pingEveryMs?: number; maxPayload?: number } = {}) =>
  watchRelay({
    nodeId: 'gw-b',
    key,
    directory: { internalUrlOf: (id) => (id === 'gw-a' ? (typeof url === 'function' ? url() : url) : undefined) },
    clock: systemClock,
    logger: silentLogger,
    connectTimeoutMs: 3000,
    ...o,
  });

/** A watcher that writes down what it is told. */
function recorder() {
  const got: { screens: string[]; output: string; ended?: SessionEndReason; lost?: string } = {
    screens: [],
    output: '',
  };
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const w: TerminalWatcher = {
    screen: (s) => got.screens.push(s.data),
    output: (b) => (got.output += b.toString()),
    resize: () => undefined,
    ended: (reason) => {
      got.ended = reason;
      done();
    },
    lost: (message) => {
      got.lost = message;
      done();
    },
  };
  return { w, got, finished };
}

async function refusal(p: Promise<unknown>): Promise<GatehouseError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GatehouseError)) throw new Error(`expected a GatehouseError, got ${String(err)}`);
  return err;
}

/** A holder that accepts (checking the token as a node would) and then plays `script` on the socket. */
async function scripted(script: (ws: import('ws').WebSocket) => void) {
  const wss = new WebSocketServer({ noServer: true });
  const verifier = new WatchTokenVerifier({ key, nodeId: 'gw-a', now: () => Date.now() });
  const claims: unknown[] = [];
  const url = await holder((req, socket, head) => {
    const sid = decodeURIComponent((req.url ?? '').split('/').at(-1) ?? '');
    claims.push(verifier.verify(req.headers.authorization?.slice(7), sid));
    wss.handleUpgrade(req, socket, head, script);
  });
  return { url, claims };
}

describe('relay client', () => {
  it('an unknown holder, an unreadable node list, a holder not listening: refused with why', async () => {
    const { w } = recorder();
    expect((await refusal(relayTo(undefined)('gw-a', SID, w))).code).toBe('holder_unknown');
    const broken = () => {
      throw new Error('connection refused by the database');
    };
    expect((await refusal(relayTo(broken)('gw-a', SID, w))).code).toBe('directory_unavailable');
    const closed = `http://127.0.0.1:${await freePort()}`;
    const err = await refusal(relayTo(closed)('gw-a', SID, w));
    expect(err.code).toBe('holder_unreachable');
    expect(err.message).toBe('the node holding this session (gw-a) cannot be reached');
  });

  it("the holder's refusals: 404 is not live, 401 carries the holder's reason", async () => {
    const { w } = recorder();
    const answer = (status: number, body: string) =>
      holder((_req, socket) =>
        socket.end(
          `HTTP/1.1 ${status} No\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        ),
      );
    const gone = await answer(404, '{"error":{"code":"not_live","message":"x"}}');
    expect((await refusal(relayTo(gone)('gw-a', SID, w))).code).toBe('not_live');
    const no = await answer(401, '{"error":{"code":"relay_token_expired","message":"the internal token has expired"}}');
    const err = await refusal(relayTo(no)('gw-a', SID, w));
    expect(err.code).toBe('relay_refused');
    expect(err.message).toContain('the internal token has expired');
    const junk = await answer(500, 'not json at all');
    expect((await refusal(relayTo(junk)('gw-a', SID, w))).code).toBe('relay_refused');
  });

  it('passes screen, output and end on; the token names this session and both nodes', async () => {
    const h = await scripted((ws) => {
      ws.send(JSON.stringify({ t: 'screen', data: 'hello$ ', cols: 80, rows: 24 }));
      ws.send(Buffer.from('ls\r\n'));
      ws.send(JSON.stringify({ t: 'ended', reason: 'terminated' }));
      ws.close(1000);
    });
    const r = recorder();
    await relayTo(h.url)('gw-a', SID, r.w);
    await r.finished;
    expect(r.got).toEqual({ screens: ['hello$ '], output: 'ls\r\n', ended: 'terminated' });
    expect(h.claims[0]).toMatchObject({ sid: SID, from: 'gw-b', to: 'gw-a' });
  });

  it('a frame it does not read, an oversized frame, a stopping holder: the view ends with a message', async () => {
    for (const [script, want] of [
      [(ws: import('ws').WebSocket) => ws.send('{"t":"exec","cmd":"rm -rf /"}'), /was lost/],
      [(ws: import('ws').WebSocket) => ws.send(Buffer.alloc(64 * 1024)), /was lost/],
      [(ws: import('ws').WebSocket) => ws.close(1001), /is stopping/],
      [(ws: import('ws').WebSocket) => ws.close(4008), /fell too far behind/],
    ] as const) {
      const h = await scripted(script);
      const r = recorder();
      await relayTo(h.url, { maxPayload: 16 * 1024 })('gw-a', SID, r.w);
      await r.finished;
      expect(r.got.ended).toBeUndefined();
      expect(r.got.lost).toMatch(want);
    }
  });

  it('a holder that stops answering (no pong) is given up after a ping period', async () => {
    // A bare upgrade: the handshake is answered, then nothing is ever read or written again.
    const url = await holder((req, socket) => {
      const accept = createHash('sha1')
        .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      socket.on('data', () => undefined);
    });
    const r = recorder();
    await relayTo(url, { pingEveryMs: 100 })('gw-a', SID, r.w);
    await r.finished;
    expect(r.got.lost).toMatch(/gw-a, the node holding this session, was lost/);
  });

  it('the function it resolves with stops the view: the holder sees the socket close', async () => {
    let closedAt: Promise<number> | undefined;
    const h = await scripted((ws) => {
      closedAt = new Promise((r) => ws.on('close', (code) => r(code)));
      ws.send(JSON.stringify({ t: 'screen', data: '', cols: 80, rows: 24 }));
    });
    const r = recorder();
    const stop = await relayTo(h.url)('gw-a', SID, r.w);
    stop();
    expect(await closedAt).toBe(1000);
    expect(r.got.lost).toBeUndefined();
  });
});
