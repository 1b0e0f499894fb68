// Watching an RDP session another node holds: two real nodes on one PostgreSQL, each with its own guacd stand-in;
// the vendor's desktop on gw-a, a supervisor's read-only view on gw-b relayed from a join gw-a makes on its own
// guacd. What a viewer sends is filtered on both nodes; the end, a lost holder and a slow viewer; gw-a's
// internal RDP route refuses browsers and every token that is not a fresh node token minted for it, audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayPurpose } from '../../gateway/cluster/internal-auth.js';
import { MAX_CLIENT_MESSAGE } from '../../gateway/http/http.js';
import { enc, type GuacdStandin, startGuacdStandin } from '../helpers/guacd-standin.js';
import type { Browser } from '../helpers/web-login.js';
import {
  type ClusterWorld,
  type InternalProbe,
  internalProbe,
  type Node,
  RDP_TARGET,
  startClusterWorld,
} from './cluster-fixture.js';
import { type GuacConn, openGuac, parseFrame } from './rdp-fixture.js';

let w: ClusterWorld;
let supervisor: Browser;
let probe: InternalProbe;
let guacdA: GuacdStandin;
let guacdB: GuacdStandin;

beforeAll(async () => {
  guacdA = await startGuacdStandin({ keepAliveMs: 300 });
  guacdB = await startGuacdStandin({ keepAliveMs: 300 });
  w = await startClusterWorld({ rdp: { guacd: { 'gw-a': guacdA, 'gw-b': guacdB } } });
  supervisor = await w.signIn(w.b, 'supervisor');
  probe = await internalProbe(w);
  // The vendor's step-up, once: every desktop below is opened within its validity.
  await w.vendor.post('/api/me/step-up', { code: await w.sshHarness.nextCode() });
}, 180_000);
afterAll(async () => {
  await w?.close();
  await guacdA?.close();
  await guacdB?.close();
}, 60_000);

const SIZE = { width: 1024, height: 768, dpi: 96 };

const page = (node: Node, path: string, b: Browser) =>
  openGuac(node.url, path, b.jar.header(new URL('/ws/', node.url)), node.url);

/** The vendor's remote desktop on gw-a, and guacd's connection for it there. */
async function vendorDesktop(): Promise<{ c: GuacConn; sessionId: string; conn: GuacdStandin['connections'][0] }> {
  const t = await w.vendor.post(`/api/grants/${w.rdpGrantId}/rdp-token`, SIZE);
  const c = page(w.a, `/ws/rdp?token=${String(t.token)}`, w.vendor.browser);
  const sessionId = String((await c.message('ready')).sessionId);
  await c.instruction('cfill');
  const conn = await guacdA.waitFor('the connection on gw-a', () =>
    guacdA.connections.find((x) => x.owner.params['recording-name'] === `${sessionId}.guac`),
  );
  return { c, sessionId, conn };
}

async function mintWatch(b: Browser, sessionId: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const me = (await (await b.fetch('/api/me')).json()) as { csrfToken: string };
  const res = await b.fetch(`/api/sessions/${sessionId}/rdp-watch-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
    body: JSON.stringify(SIZE),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A read-only view on gw-b of a session gw-a holds, once `ready`. */
async function watchOnB(sessionId: string, b: Browser = supervisor): Promise<GuacConn> {
  const t = await mintWatch(b, sessionId);
  expect(t.status).toBe(201);
  const v = page(w.b, `/ws/rdp?token=${String(t.json.token)}`, b);
  await v.message('ready');
  return v;
}

type Desktop = Awaited<ReturnType<typeof vendorDesktop>>;

/**
 * Stops `viewer` reading while guacd on gw-a sends the vendor's desktop 40 MiB of instructions nobody acts on (each
 * under the gateway's 256 KiB per instruction), then a fill in `shade`; reads again once the vendor's page drew it.
 */
async function floodPastStalled(viewer: { pause(): void; resume(): void }, d: Desktop, shade: number): Promise<void> {
  viewer.pause();
  const filler = enc('nop', 'x'.repeat(128 * 1024));
  for (let k = 0; k < 320; k++) guacdA.broadcast(d.conn.id, filler);
  guacdA.paint(d.conn.id, [shade, shade, shade]);
  await d.c.instruction('cfill', (i) => i.args[2] === String(shade), 60_000);
  viewer.resume();
}

/** The vendor's page still draws what guacd on gw-a sends, and the desktop's connection is up. */
async function vendorCarriesOn(d: Desktop, shade: number): Promise<void> {
  guacdA.paint(d.conn.id, [shade, shade, shade]);
  await d.c.instruction('cfill', (i) => i.args[2] === String(shade));
  expect(d.conn.ended).toBe(false);
}

/** gw-a's internal RDP route for `sid` (or `o.path`), as gw-b dials it for a viewer named probe. */
const rdpPath = (sid: string, o: { path?: string } = {}) =>
  o.path ?? `/internal/rdp-watch/${sid}?width=1024&height=768&dpi=96&name=probe`;
const token = (sid: string, o: { purpose?: RelayPurpose; now?: number; key?: Buffer } = {}) =>
  probe.token(sid, { purpose: 'rdp', ...o });
const internal = (sid: string, headers: Record<string, string>, o: { origin?: string; path?: string } = {}) =>
  probe.dial(rdpPath(sid, o), headers, o);

describe('an RDP session on gw-a watched from gw-b', () => {
  it('the supervisor on gw-b sees the desktop read-only, through a join on gw-a, audited with the holder', async () => {
    const { c, sessionId, conn } = await vendorDesktop();
    const before = guacdB.selects.length;
    const v = await watchOnB(sessionId);
    expect(v.messages.find((m) => m.type === 'ready')).toMatchObject({
      readOnly: true,
      sessionId,
      userId: w.vendor.id,
      targetId: RDP_TARGET,
    });
    // The desktop as guacd on gw-a draws it for a joiner.
    await v.instruction('cfill');
    const joiner = await guacdA.waitFor('the viewer at gw-a guacd', () => conn.joiners[0]);
    expect(joiner.select).toBe(conn.id);
    expect(joiner.params['read-only']).toBe('true');
    expect(joiner.params.password).toBe('');
    expect(joiner.handshake.name?.[0]).toMatch(/via gw-b \(read-only\)$/);
    // gw-b's own guacd never hears of it.
    expect(guacdB.selects.length).toBe(before);

    // What the vendor's desktop shows next reaches gw-b.
    guacdA.paint(conn.id, [1, 2, 3]);
    await v.instruction('cfill', (i) => i.args[2] === '1');

    // Input from the viewer never reaches guacd on gw-a; keep-alives do, and a tunnel ping is answered on gw-b.
    v.send('key', 65, 1);
    v.send('mouse', 1, 1, 1);
    v.send('clipboard', 1, 'text/plain');
    v.send('argv', 2, 'text/plain', 'password');
    v.send('nop');
    await guacdA.waitFor('the nop', () => joiner.received.some((i) => i.opcode === 'nop'));
    v.send('', 'ping', 7);
    await v.instruction('', (i) => i.args[0] === 'ping' && i.args[1] === '7');
    expect(joiner.received.map((i) => i.opcode).filter((op) => op !== 'nop' && op !== 'sync')).toEqual([]);

    const monitored = await w.waitAudit('session.monitored', (a) => a.subject?.sessionId === sessionId);
    expect(monitored.data).toEqual({ via: 'rdp', readOnly: true, node: 'gw-a' });
    expect(monitored.actor?.id).not.toBe(w.vendor.id);
    expect(monitored.subject).toMatchObject({ sessionId, userId: w.vendor.id, targetId: RDP_TARGET });

    // The vendor leaves: the viewer on gw-b reads the ended message a local viewer gets.
    c.ws.close();
    expect(String((await v.message('ended')).message)).toBe('the session ended (client_closed)');
    expect((await v.closed).code).toBe(1000);
  }, 60_000);

  it('a batch of allowed instructions over 4 KiB from the viewer on gw-b reaches gw-a; only a message over the door’s bound is refused', async () => {
    const d = await vendorDesktop();
    const v = await watchOnB(d.sessionId);
    await v.instruction('cfill');
    const joiner = await guacdA.waitFor('the viewer at gw-a guacd', () =>
      d.conn.joiners.find((j) => j.handshake.name?.[0]?.includes('via gw-b')),
    );
    // One message, ~11 KiB: 400 syncs and a nop a local viewer may send, and a size and an ack it may not (dropped).
    const syncs = Array.from({ length: 400 }, (_, k) => enc('sync', 9_000_000_000 + k)).join('');
    const batch = enc('size', 0, 800, 600) + syncs + enc('ack', 1, 'OK', 0) + enc('nop', 'batch-end');
    expect(Buffer.byteLength(batch)).toBeGreaterThan(4096);
    expect(Buffer.byteLength(batch)).toBeLessThan(MAX_CLIENT_MESSAGE);
    v.ws.send(batch);
    // Before: gw-a's internal route closed the relay (1009) and the view on gw-b ended as lost.
    await guacdA.waitFor('the batch at gw-a', () =>
      joiner.received.some((i) => i.opcode === 'nop' && i.args[0] === 'batch-end'),
    );
    const mine = joiner.received.filter((i) => i.opcode === 'sync' && Number(i.args[0]) >= 9_000_000_000);
    expect(mine).toHaveLength(400);
    expect(joiner.received.some((i) => i.opcode === 'size' || i.opcode === 'ack')).toBe(false);
    // The view goes on.
    guacdA.paint(d.conn.id, [7, 8, 9]);
    await v.instruction('cfill', (i) => i.args[2] === '7');
    expect(v.messages.some((m) => m.type === 'error')).toBe(false);

    // More than any browser may send in one message: refused at gw-b's door (1009) as on a single node; the vendor
    // on gw-a carries on.
    v.ws.send(enc('nop', 'x'.repeat(MAX_CLIENT_MESSAGE)));
    expect((await v.closed).code).toBe(1009);
    await vendorCarriesOn(d, 11);
    d.c.ws.close();
  }, 60_000);

  it('an auditor may watch from gw-b; a vendor may not, and the refusal is audited', async () => {
    const { c, sessionId } = await vendorDesktop();
    const auditor = await w.signIn(w.b, 'auditor');
    const v = await watchOnB(sessionId, auditor);
    await v.instruction('cfill');
    const nosy = await w.signIn(w.b, 'vendor');
    const refused = await mintWatch(nosy, sessionId);
    expect(refused).toMatchObject({ status: 403, json: { error: { code: 'forbidden' } } });
    const denied = await w.waitAudit(
      'access.denied',
      (a) => a.data?.code === 'forbidden' && a.data?.path === `/api/sessions/${sessionId}/rdp-watch-token`,
    );
    expect(denied.actor?.id).toBe(w.vendor.id);
    // A session that is not live is not live on gw-b either.
    expect((await mintWatch(supervisor, 'ses_notliveanywhere0')).status).toBe(404);
    c.ws.close();
    await v.closed;
  }, 60_000);

  it('a viewer on gw-b that stops reading is cut off; the vendor on gw-a carries on', async () => {
    const desktop = await vendorDesktop();
    const v = await watchOnB(desktop.sessionId);
    await v.instruction('cfill');
    // The page stops reading: gw-b's socket to it fills up, whatever gw-a keeps sending.
    await floodPastStalled(v.ws, desktop, 9);
    expect((await v.closed).code).toBe(4008);
    // The vendor's session is untouched.
    await vendorCarriesOn(desktop, 8);
    desktop.c.ws.close();
  }, 120_000);
});

describe("gw-a's internal RDP route", () => {
  let vendor: Desktop;
  beforeAll(async () => {
    vendor = await vendorDesktop();
  }, 60_000);

  const refusal = (
    sid: string,
    headers: Record<string, string>,
    code: string,
    status = 401,
    o: { origin?: string; path?: string } = {},
  ) => probe.refused(rdpPath(sid, o), headers, code, status, o);

  it('joins for a valid node token and filters what the other node sends, as for a browser viewer', async () => {
    const { sessionId, conn } = vendor;
    const joined = conn.joiners.length;
    const r = await internal(sessionId, { authorization: token(sessionId) });
    if (!('ws' in r)) throw new Error(`refused: ${JSON.stringify(r)}`);
    const joiner = await guacdA.waitFor('the join', () => conn.joiners[joined]);
    await guacdA.waitFor('the first frame', () => r.got.join('').includes('4.rect'));
    const ready = parseFrame(r.got[0]!).find((i) => i.opcode === 'gatehouse');
    expect(JSON.parse(ready?.args[0] ?? '{}')).toMatchObject({ type: 'ready', readOnly: true, sessionId });
    expect(joiner.handshake.name?.[0]).toBe('probe via gw-b (read-only)');
    // A node that skipped its own filter still gets nothing but a viewer's instructions through.
    r.ws.send(enc('key', 65, 1) + enc('mouse', 5, 5, 1) + enc('size', 0, 10, 10) + enc('nop'));
    await guacdA.waitFor('the nop', () => joiner.received.some((i) => i.opcode === 'nop'));
    expect(joiner.received.map((i) => i.opcode)).toEqual(['nop']);
    // The bound is the browser door's (MAX_CLIENT_MESSAGE): a message over it no browser could have sent is refused.
    const closed = new Promise<number>((resolve) => r.ws.once('close', (code) => resolve(code)));
    r.ws.send(enc('nop', 'x'.repeat(MAX_CLIENT_MESSAGE)));
    expect(await closed).toBe(1009);
  });

  it('a viewer node that stops reading is cut off there; the vendor carries on', async () => {
    const { sessionId } = vendor;
    const r = await internal(sessionId, { authorization: token(sessionId) });
    if (!('ws' in r)) throw new Error(`refused: ${JSON.stringify(r)}`);
    await guacdA.waitFor('the first frame', () => r.got.join('').includes('4.rect'));
    const closed = new Promise<number>((resolve) => r.ws.once('close', (code) => resolve(code)));
    await floodPastStalled(r.ws, vendor, 7);
    expect(await closed).toBe(4008);
    await vendorCarriesOn(vendor, 6);
  }, 120_000);

  it('refuses a terminal-watch token, and an RDP token on the terminal route, each audited', async () => {
    const sid = vendor.sessionId;
    expect(
      await refusal(sid, { authorization: token(sid, { purpose: 'watch' }) }, 'relay_token_wrong_purpose'),
    ).toMatch(/another kind of live view/);
    await refusal(sid, { authorization: token(sid) }, 'relay_token_wrong_purpose', 401, {
      path: `/internal/watch/${sid}`,
    });
  });

  it('refuses an absent, forged, expired, replayed or wrong-session token, each audited', async () => {
    await probe.refusesBadTokens(vendor.sessionId, rdpPath(vendor.sessionId), token);
  });

  it('never serves a browser, even with a valid token; a session not live there is a 404, audited', async () => {
    const sid = vendor.sessionId;
    await refusal(sid, { authorization: token(sid) }, 'browser_refused', 403, { origin: w.a.url });
    await refusal(sid, { authorization: token(sid), cookie: 'gh_session=x' }, 'browser_refused', 403);
    const r = await internal('ses_notlivehere0', { authorization: token('ses_notlivehere0') });
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'not_live' } } });
    await w.waitAudit(
      'access.denied',
      (a) =>
        a.data?.action === 'session.watch.relay' &&
        a.data?.code === 'not_live' &&
        a.subject?.sessionId === 'ses_notlivehere0',
    );
  });

  it('when gw-a dies mid-watch, the viewer on gw-b is told so', async () => {
    const v = await watchOnB(vendor.sessionId);
    await v.instruction('cfill');
    w.a.serve.child.kill('SIGKILL');
    await w.a.serve.exited;
    const error = await v.message('error', 30_000);
    expect(error.code).toBe('relay_lost');
    expect(String(error.message)).toMatch(/gw-a, the node holding this session/);
    expect((await v.closed).code).toBe(4502);
    expect((await fetch(`${w.b.url}/healthz`)).status).toBe(200);
  }, 60_000);
});
