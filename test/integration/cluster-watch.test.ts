// Watching a session another node holds: two real nodes on one PostgreSQL, the vendor on gw-a through OpenSSH, the
// supervisor's live view on gw-b relayed from gw-a's internal route; node tokens refused when forged, absent,
// replayed, expired or for another session; hostile input on that route; a recording made on gw-a replayed on gw-b.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveSsh, spawnSsh } from '../helpers/openssh-vendor.js';
import { TARGET } from '../helpers/ssh-gateway.js';
import type { Browser } from '../helpers/web-login.js';
import { type ClusterWorld, type InternalProbe, internalProbe, startClusterWorld } from './cluster-fixture.js';

let w: ClusterWorld;
let supervisor: Browser;
let probe: InternalProbe;

beforeAll(async () => {
  w = await startClusterWorld();
  supervisor = await w.signIn(w.b, 'supervisor');
  probe = await internalProbe(w);
}, 180_000);
afterAll(async () => {
  await w?.close();
}, 60_000);

const PROMPT = /[#$] $/;

/** The vendor's OpenSSH session on gw-a, and its id as gw-b's session library lists it. */
async function vendorOnA(): Promise<{ ssh: LiveSsh; sessionId: string }> {
  const before = await listSessions(supervisor);
  const ssh = await spawnSsh(w.sshHarness, TARGET, { options: ['-tt'], code: await w.sshHarness.nextCode() });
  await ssh.until(PROMPT, { ms: 20_000 });
  const sessionId = await poll('the session on gw-b', async () =>
    (await listSessions(supervisor)).find((s) => !before.includes(s)),
  );
  return { ssh, sessionId };
}

async function listSessions(b: Browser): Promise<string[]> {
  const res = await b.fetch('/api/sessions');
  expect(res.status).toBe(200);
  return ((await res.json()) as { sessions: Array<{ id: string }> }).sessions.map((s) => s.id);
}

async function poll<T>(what: string, get: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const watchPath = (sid: string) => `/internal/watch/${sid}`;
const internal = (sid: string, headers: Record<string, string> = {}) => probe.dial(watchPath(sid), headers);
const token = (sid: string, o: { now?: number; to?: string; key?: Buffer } = {}) => probe.token(sid, o);

describe('live view of a session held by another node', () => {
  let vendor: { ssh: LiveSsh; sessionId: string };
  beforeAll(async () => {
    vendor = await vendorOnA();
  }, 60_000);

  it('a supervisor on gw-b sees the screen, then the vendor typing on gw-a, then the end; audited with the holder', async () => {
    const { ssh, sessionId } = vendor;
    ssh.write('echo before-$((20+1))\r');
    // The prompt after it too: the two viewers below must join at the same point of the output.
    await ssh.until(/before-21\r?\n.*[#$] $/s);

    const watch = w.monitor(w.b, `/ws/monitor/${sessionId}`, supervisor);
    const screen = await watch.control('screen');
    expect(String(screen.data)).toContain('before-21');
    expect(screen).toMatchObject({ sessionId, targetId: TARGET, userId: w.vendor.id });
    const monitored = await w.waitAudit('session.monitored', (a) => a.subject?.sessionId === sessionId);
    expect(monitored.data).toEqual({ via: 'web', node: 'gw-a' });

    // A viewer on the holder itself, joined at the same point (the shell waits at its prompt).
    const local = w.monitor(w.a, `/ws/monitor/${sessionId}`, await w.signIn(w.a, 'auditor'));
    expect((await local.control('screen')).data).toBe(screen.data);

    ssh.write('echo during-$((40+2))\r');
    await watch.until(/during-42/);
    // Read-only across nodes too: what the viewer sends never reaches the session.
    watch.ws.send(Buffer.from('echo viewer-$((1+1))\r'), { binary: true });
    ssh.write('echo after-$((3+4))\r');
    await Promise.all([watch.until(/after-7\r?\n.*[#$] $/s), local.until(/after-7\r?\n.*[#$] $/s)]);
    expect(ssh.text).not.toContain('viewer-2');
    // The same bytes, in the same order, on both nodes.
    expect(watch.text()).toBe(local.text());
    // A command alert judged on gw-a reaches the viewer on gw-b as it does the one on gw-a.
    ssh.write('echo alert-me\r');
    const [far, near] = await Promise.all([watch.control('alert'), local.control('alert')]);
    expect(far).toMatchObject({ type: 'alert', verdict: 'alerted', text: 'echo alert-me', reason: 'test rule' });
    expect(far).toEqual(near);

    ssh.write('exit\r');
    expect(await ssh.exited).toBe(0);
    const [remote, here] = await Promise.all([watch.closed, local.closed]);
    expect(remote.code).toBe(1000);
    expect(here.code).toBe(1000);
    expect(watch.controls.find((c) => c.type === 'ended')?.reason).toBe('client_closed');
    expect(local.controls.find((c) => c.type === 'ended')?.reason).toBe('client_closed');
  }, 60_000);

  it('a vendor may not watch on gw-b: refused as on one node, and audited', async () => {
    const { sessionId } = vendor;
    const nosy = w.monitor(w.b, `/ws/monitor/${sessionId}`, await w.signIn(w.b, 'vendor'));
    expect((await nosy.control('error')).code).toBe('forbidden');
    expect((await nosy.closed).code).toBe(4403);
    const denied = await w.waitAudit(
      'access.denied',
      (a) => a.data?.code === 'forbidden' && a.data?.path === `/ws/monitor/${sessionId}`,
    );
    expect(denied.actor?.id).toBe(w.vendor.id);
  });

  it('the recording made on gw-a is in gw-b library, replays there and verifies', async () => {
    const { sessionId } = vendor;
    const detail = await poll('the sealed recording', async () => {
      const res = await supervisor.fetch(`/api/sessions/${sessionId}`);
      const body = (await res.json()) as { recording?: { sha256?: string | null } };
      return body.recording?.sha256 ? body : undefined;
    });
    expect(detail.recording?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const cast = await supervisor.fetch(`/api/sessions/${sessionId}/recording`);
    expect(cast.status).toBe(200);
    const text = await cast.text();
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ version: 2, gatehouse: { session: sessionId } });
    expect(text).toContain('during-42');
    const integrity = await supervisor.fetch(`/api/sessions/${sessionId}/recording/integrity`);
    expect(await integrity.json()).toMatchObject({ state: 'verified', sealedSha256: detail.recording?.sha256 });
    const viewed = await w.waitAudit('recording.viewed', (a) => a.subject?.sessionId === sessionId);
    expect(viewed.actor?.kind).toBe('user');
  });
});

describe("gw-a's internal watch route", () => {
  let vendor: { ssh: LiveSsh; sessionId: string };
  beforeAll(async () => {
    vendor = await vendorOnA();
  }, 90_000);
  afterAll(() => vendor?.ssh.kill());

  const refusal = (
    sid: string,
    headers: Record<string, string>,
    code: string,
    status = 401,
    o: { origin?: string } = {},
  ) => probe.refused(watchPath(sid), headers, code, status, o);

  it('serves a valid node token once, with the screen a local viewer would get', async () => {
    const r = await internal(vendor.sessionId, { authorization: token(vendor.sessionId) });
    if (!('ws' in r)) throw new Error(`refused: ${JSON.stringify(r)}`);
    expect(JSON.parse(await r.first)).toMatchObject({ t: 'screen' });
    r.ws.close();
  });

  it('refuses an absent, forged, expired, replayed, wrong-session or wrong-node token, each audited', async () => {
    const sid = vendor.sessionId;
    await probe.refusesBadTokens(sid, watchPath(sid), token);
    await refusal(sid, { authorization: token(sid, { to: 'gw-c' }) }, 'relay_token_wrong_node');
  });

  it('never serves a browser, even with a valid token', async () => {
    const sid = vendor.sessionId;
    await refusal(sid, { authorization: token(sid) }, 'browser_refused', 403, { origin: w.a.url });
    await refusal(sid, { authorization: token(sid), cookie: 'gh_session=x' }, 'browser_refused', 403);
  });

  it('a session not live there is a 404, audited', async () => {
    const r = await internal('ses_notlivehere0', { authorization: token('ses_notlivehere0') });
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'not_live' } } });
    await w.waitAudit('access.denied', (a) => a.data?.action === 'session.watch.relay' && a.data?.code === 'not_live');
  });

  it('hostile input (oversized, malformed) is refused and the node carries on', async () => {
    const sid = vendor.sessionId;
    await refusal(sid, { authorization: `Bearer ${'A'.repeat(5000)}` }, 'relay_token_invalid');
    await refusal(sid, { authorization: 'Bearer v1.%%%%.@@@' }, 'relay_token_invalid');
    await refusal(
      sid,
      { authorization: `Bearer v1.${Buffer.from('{"sid":').toString('base64url')}.x` },
      'relay_token_invalid',
    );
    // Headers beyond Node's limit: answered by the HTTP parser, never reaching the route.
    const huge = await internal(sid, { authorization: `Bearer ${'B'.repeat(70_000)}` });
    expect('status' in huge && huge.status).toBe(431);
    // A frame above the channel's limit: that socket closes, nothing else.
    const r = await internal(sid, { authorization: token(sid) });
    if (!('ws' in r)) throw new Error('refused');
    const closed = new Promise<number>((resolve) => r.ws.on('close', (code) => resolve(code)));
    r.ws.send(Buffer.alloc(64 * 1024, 0x61));
    expect(await closed).toBe(1009);
    // Garbage instead of an upgrade, a half-written one, and one with a valid token but no websocket key.
    for (const raw of [
      `GET /internal/watch/${sid} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: ${token(sid)}\r\n\r\n`,
      'GET /internal/watch/x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      '\x16\x03\x01\x02\x00garbage\r\n\r\n',
    ]) {
      const port = Number(new URL(w.a.url).port);
      await new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.end(raw));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
      });
    }
    expect((await fetch(`${w.a.url}/healthz`)).status).toBe(200);
    // And the live view still works through the same route.
    const watch = w.monitor(w.b, `/ws/monitor/${sid}`, supervisor);
    await watch.control('screen');
    vendor.ssh.write('echo still-$((5+5))\r');
    await watch.until(/still-10/);
    watch.ws.close();
  });

  it('when the holder goes away mid-watch, the viewer on gw-b is told so', async () => {
    const watch = w.monitor(w.b, `/ws/monitor/${vendor.sessionId}`, supervisor);
    await watch.control('screen');
    w.a.serve.child.kill('SIGKILL');
    await w.a.serve.exited;
    const error = await watch.control('error', 30_000);
    expect(error.code).toBe('relay_lost');
    expect(String(error.message)).toMatch(/gw-a, the node holding this session/);
    expect((await watch.closed).code).toBe(4502);
    // gw-b is fine, and a new view of the orphaned session says why it cannot be had.
    expect((await fetch(`${w.b.url}/healthz`)).status).toBe(200);
    const again = w.monitor(w.b, `/ws/monitor/${vendor.sessionId}`, supervisor);
    const refused = await again.control('error', 30_000);
    expect(refused.code).toBe('holder_unreachable');
    expect(String(refused.message)).toMatch(/gw-a\) cannot be reached/);
  }, 60_000);
});
