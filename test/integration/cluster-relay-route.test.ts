// The holder's internal watch route in process, on a real HTTP server and audit log: it passes on a session's
// alerts (and no other session's), ends with the session, drops a viewer's node that went silent, and audits a frame
// over its bound.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import { clusterKeyFrom, mintWatchToken, WatchTokenVerifier } from '../../gateway/cluster/internal-auth.js';
import { attachInternalWatch, type InternalWatchDoor } from '../../gateway/cluster/watch-relay-route.js';
import { type CommandAlert, CommandAlerts } from '../../gateway/command-alerts.js';
import { auditRefusals } from '../../gateway/http/audit-refusal.js';
import { silentLogger } from '../../gateway/log.js';
import { LiveSessions, type TerminalWatcher } from '../../gateway/sessions.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const SID = 'ses_routetest000001';
let dir: TempDir;
let server: Server;
let audit: AuditLog;
let door: InternalWatchDoor;
let url: string;
let key: Buffer;
const alerts = new CommandAlerts();
const watchers = new Set<TerminalWatcher>();
const sockets = new Set<Socket>();

beforeEach(async () => {
  dir = await tempDir('gh-relay-route-');
  const clock = new ManualClock(Date.now());
  audit = await AuditLog.open({ dir: dir.path, clock, logger: silentLogger, checkpointIntervalMs: 0 });
  const { loadOrCreateSigningKey } = await import('../../gateway/audit/signing.js');
  key = clusterKeyFrom((await loadOrCreateSigningKey(dir.path)).privateKey);
  const registry = new LiveSessions();
  registry.register({
    id: SID,
    grantId: 'grt_1',
    userId: 'usr_1',
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    startedAt: new Date().toISOString(),
    close: async () => undefined,
    watch: async (w) => {
      watchers.add(w);
      w.screen({ data: 'prompt$ ', cols: 80, rows: 24 });
      return () => watchers.delete(w);
    },
  });
  server = createServer((_q, r) => r.writeHead(404).end());
  server.on('connection', (s) => sockets.add(s));
  door = attachInternalWatch(server, {
    deps: { audit, logger: silentLogger, alerts },
    registry,
    verifier: new WatchTokenVerifier({ key, nodeId: 'gw-a', now: () => Date.now() }),
    onRefusal: auditRefusals({ audit, clock, logger: silentLogger }),
    pingEveryMs: 100,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/internal/watch/${SID}`;
});
afterEach(async () => {
  door.closeAll();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  await audit.close();
  await dir.remove();
  watchers.clear();
});

const bearer = () => `Bearer ${mintWatchToken(key, { sid: SID, from: 'gw-b', to: 'gw-a', now: Date.now() })}`;

function open(): { ws: WebSocket; frames: Array<Record<string, unknown>>; closed: Promise<number> } {
  const ws = new WebSocket(url, { headers: { authorization: bearer() } });
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (d: Buffer, binary: boolean) =>
    frames.push(binary ? { bytes: d.toString() } : (JSON.parse(d.toString()) as Record<string, unknown>)),
  );
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  return { ws, frames, closed };
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const alert = (sessionId: string, text: string): CommandAlert => ({
  sessionId,
  targetId: 'eng-ws-01',
  userId: 'usr_1',
  userName: 'Vendor',
  verdict: 'alerted',
  text,
  at: new Date().toISOString(),
});

describe('internal watch route', () => {
  it("passes on this session's alerts and output, no other session's, then the end", async () => {
    const c = open();
    await until('the screen', () => c.frames.length > 0);
    expect(c.frames[0]).toEqual({ t: 'screen', data: 'prompt$ ', cols: 80, rows: 24 });
    alerts.publish(alert('ses_someoneelse', 'not yours'));
    alerts.publish(alert(SID, 'plc stop'));
    for (const w of watchers) w.output(Buffer.from('out\r\n'));
    for (const w of watchers) w.ended('revoked');
    expect(await c.closed).toBe(1000);
    expect(c.frames.slice(1)).toEqual([
      { t: 'alert', alert: expect.objectContaining({ sessionId: SID, text: 'plc stop' }) },
      { bytes: 'out\r\n' },
      { t: 'ended', reason: 'revoked' },
    ]);
    expect(watchers.size).toBe(0);
  });

  it("drops a viewer's node that stops answering pings, and stops watching for it", async () => {
    // A hand-made handshake, then silence: the pings it is sent are never answered.
    const port = (server.address() as AddressInfo).port;
    const wsKey = Buffer.from('0123456789abcdef').toString('base64');
    const raw = connect(port, '127.0.0.1');
    raw.on('error', () => undefined);
    let head = '';
    raw.on('data', (d: Buffer) => (head += d.toString('latin1')));
    raw.write(
      `GET /internal/watch/${SID} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${wsKey}\r\nSec-WebSocket-Version: 13\r\nAuthorization: ${bearer()}\r\n\r\n`,
    );
    const accept = createHash('sha1').update(`${wsKey}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    await until('the handshake', () => head.includes(accept));
    await until('a watcher', () => watchers.size === 1);
    const ended = new Promise<void>((r) => raw.on('close', () => r()));
    await until('the silent node dropped', () => watchers.size === 0);
    await ended;
    expect(door.size()).toBe(0);
  });

  it('a frame over the channel bound closes that socket (1009) and is audited once, naming the node, never its bytes', async () => {
    const c = open();
    await until('the screen', () => c.frames.length > 0);
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      c.ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
    );
    // The viewer's node sends nothing on a terminal's channel: 4 KiB is its bound.
    c.ws.send(Buffer.alloc(4097, 'HOSTILE-BYTES-'));
    expect(await closed).toEqual({ code: 1009, reason: 'message too large (at most 4096 bytes)' });
    await until('the watcher dropped', () => watchers.size === 0);
    // The route serves on: a second socket gets its screen.
    const d = open();
    await until('the second screen', () => d.frames.length > 0);
    d.ws.close();
    await d.closed;
    const text = async () => readFile(join(dir.path, 'audit.jsonl'), 'utf8');
    const end = Date.now() + 5000;
    while (!(await text()).includes('message_too_large') && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    const denied = (await text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; actor?: unknown; data?: Record<string, unknown> })
      .filter((l) => l.type === 'access.denied');
    expect(denied).toEqual([
      expect.objectContaining({
        actor: { kind: 'anonymous', ip: '127.0.0.1' },
        data: {
          code: 'message_too_large',
          status: 413,
          method: 'GET',
          path: `/internal/watch/${SID}`,
          ip: '127.0.0.1',
          wsCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
          maxPayload: 4096,
          from: 'gw-b',
        },
      }),
    ]);
    expect(await text()).not.toContain('HOSTILE');
  });

  it('refusals are audited: a missing token (through the refusal hook), a session not live here', async () => {
    const refuse = (path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url.replace(`/internal/watch/${SID}`, path), { headers });
        ws.on('error', () => undefined);
        ws.once('unexpected-response', (_q, res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
      });
    expect(await refuse(`/internal/watch/${SID}`, {})).toBe(401);
    const other = 'ses_notherenow0001';
    const token = `Bearer ${mintWatchToken(key, { sid: other, from: 'gw-b', to: 'gw-a', now: Date.now() })}`;
    expect(await refuse(`/internal/watch/${other}`, { authorization: token })).toBe(404);
    expect(await refuse('/internal/nothing', {})).toBe(404);
    // Each refusal is durable before its answer is sent.
    const lines = (await readFile(join(dir.path, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data?: Record<string, unknown> });
    const denied = lines.filter((l) => l.type === 'access.denied').map((l) => [l.data?.code, l.data?.path]);
    expect(denied).toEqual([
      ['relay_token_missing', `/internal/watch/${SID}`],
      ['not_live', `/internal/watch/${other}`],
    ]);
  });
});
