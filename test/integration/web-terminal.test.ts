// The browser terminal (/ws/ssh/:grantId) and the live view (/ws/monitor/:sessionId) over real websockets to a
// real sshd: the websocket door's refusals, the same relay/recording/rules as native SSH, viewers, terminate.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oathCode } from '../helpers/totp.js';
import { type SshGateway, startSshGateway } from '../helpers/ssh-gateway.js';
import { type Monitor, openMonitor } from '../helpers/page-socket.js';
import { type Browser, signIn } from '../helpers/web-login.js';

let h: SshGateway;
const marker = `/tmp/gh-web-blocked-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  h = await startSshGateway({
    target: {
      commands: {
        mode: 'enforce',
        rules: [
          { match: '^\\s*touch\\s+/tmp/gh-web-blocked', action: 'block', reason: 'marker files are not allowed' },
        ],
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

type Conn = Monitor;

/** The page's socket to `path`: signed in as `o.browser`, from the gateway's own origin unless `o.origin` says (null: none). */
function connect(path: string, o: { browser?: Browser; origin?: string | null } = {}): Conn {
  const cookie = o.browser?.jar.header(new URL('/ws/', h.url));
  const origin = o.origin === undefined ? h.url : o.origin;
  return openMonitor(h.url, path, cookie ? { cookie } : {}, origin ?? undefined);
}

const send = (c: Conn, s: string) => c.ws.send(Buffer.from(s), { binary: true });
const PROMPT = /[#$] $/;

async function stepUp(browser: Browser, csrf: string, code: string) {
  const res = await browser.fetch('/api/me/step-up', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
    body: JSON.stringify({ code }),
  });
  expect(res.status).toBe(200);
}

describe('websocket door', () => {
  it('refuses a foreign Origin with a plain HTTP 403, and audits it', async () => {
    const grant = await h.grant();
    const c = connect(`/ws/ssh/${grant.grantId}`, { browser: h.vendor.browser, origin: 'http://evil.example' });
    const status = await new Promise<number>((r) =>
      c.ws.on('unexpected-response', (_req, res) => r(res.statusCode ?? 0)),
    );
    expect(status).toBe(403);
    const a = await h.waitAudit(
      'access.denied',
      (x) => x.data?.code === 'origin_refused' && String(x.data?.path).startsWith('/ws/ssh/'),
    );
    expect(a.data?.path).toBe(`/ws/ssh/${grant.grantId}`);
  });

  it('refuses a missing Origin (no browser page) and an unknown route', async () => {
    const grant = await h.grant();
    const c = connect(`/ws/ssh/${grant.grantId}`, { browser: h.vendor.browser, origin: null });
    expect(await new Promise<number>((r) => c.ws.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0)))).toBe(
      403,
    );
    const u = connect('/ws/nothing-here', { browser: h.vendor.browser });
    expect((await u.closed).code).toBe(4404);
  });

  it('refuses without a web session: the page reads why (login_required), nothing else happens', async () => {
    const grant = await h.grant();
    const c = connect(`/ws/ssh/${grant.grantId}`);
    expect((await c.control('error')).code).toBe('login_required');
    expect((await c.closed).code).toBe(4401);
  });

  it('needs a fresh step-up before connecting', async () => {
    const grant = await h.grant();
    const { browser } = await signIn({ ...h, close: async () => undefined }, 'vendor');
    const c = connect(`/ws/ssh/${grant.grantId}`, { browser });
    expect((await c.control('error')).code).toBe('stepup_required');
    expect((await c.closed).code).toBe(4403);
    await h.waitAudit('access.denied', (a) => a.data?.code === 'stepup_required');
  });
});

describe('browser terminal', () => {
  beforeAll(async () => {
    await stepUp(h.vendor.browser, h.vendor.me.csrfToken, h.freshCode());
  });

  it('GET /api/me names the SSH port, so the request page can show the ssh line', async () => {
    const me = (await (await h.vendor.browser.fetch('/api/me')).json()) as { sshPort: number | null };
    expect(me.sshPort).toBe(h.port);
  });

  it("refuses another user's grant, an unknown grant, and a window not yet open — the same way", async () => {
    const others = await h.grant({ userId: 'usr_someone_else' });
    const a = connect(`/ws/ssh/${others.grantId}`, { browser: h.vendor.browser });
    expect((await a.control('error')).code).toBe('no_grant');
    const b = connect('/ws/ssh/grt_doesnotexist', { browser: h.vendor.browser });
    expect((await b.control('error')).code).toBe('no_grant');
    const later = await h.grant({ startsAt: new Date(h.clock.now() + 3600_000).toISOString() });
    const c = connect(`/ws/ssh/${later.grantId}`, { browser: h.vendor.browser });
    const err = await c.control('error');
    expect(err.code).not.toBe('no_grant');
    expect(String(err.message)).toMatch(/start|open|not yet|begins/i);
    expect((await c.closed).code).toBe(4403);
  });

  it('runs a shell on the target: output, resize, commands captured, recorded, exit closes cleanly', async () => {
    const grant = await h.grant();
    const c = connect(`/ws/ssh/${grant.grantId}?cols=100&rows=30`, { browser: h.vendor.browser });
    const ready = await c.control('ready');
    expect(ready.targetId).toBe('eng-ws-01');
    const sessionId = String(ready.sessionId);
    await c.until(PROMPT);
    send(c, 'stty size\r');
    await c.until(/30 100/);
    c.ws.send(JSON.stringify({ type: 'resize', cols: 120, rows: 40 }));
    await new Promise((r) => setTimeout(r, 200));
    send(c, 'echo web-$((6*7)); stty size\r');
    await c.until(/web-42\r?\n40 120/);
    // Malformed control messages are ignored, not relayed and not fatal.
    c.ws.send('{"type":"resize","cols":1e9}');
    c.ws.send('not json');
    send(c, 'exit\r');
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    expect(c.controls.find((x) => x.type === 'exit')?.code).toBe(0);

    const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    expect(ended.data?.reason).toBe('client_closed');
    const started = await h.waitAudit('session.started', (a) => a.subject?.sessionId === sessionId);
    expect(started.data?.via).toBe('web');
    const record = h.gw.store.data.sessions.find((s) => s.id === sessionId)!;
    expect(record.via).toBe('web');
    expect(record.recording?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const cast = await readFile(join(h.gw.storageDir, record.recording!.path), 'utf8');
    expect(JSON.parse(cast.split('\n')[0]!).width).toBe(100);
    expect(cast).toContain('web-42');
    expect(cast).toMatch(/"r", ?"120x40"/);
    const texts = h.gw.commands.records.filter((x) => x.sessionId === sessionId).map((x) => x.text);
    expect(texts).toEqual(['stty size', 'echo web-$((6*7)); stty size', 'exit']);
  });

  it('typing in the terminal is activity on the web session: its idle clock moves on', async () => {
    const grant = await h.grant();
    const c = connect(`/ws/ssh/${grant.grantId}`, { browser: h.vendor.browser });
    await c.control('ready');
    await c.until(PROMPT);
    const mine = () => h.gw.store.data.webSessions.find((s) => s.userId === h.vendor.me.id && s.stepUpAt)!;
    const before = Date.parse(mine().lastSeenAt);
    h.clock.offset += 5 * 60_000; // later than the touch interval, well inside the idle timeout
    send(c, 'echo still-here\r');
    await c.until(/still-here\r?\n/);
    const end = Date.now() + 5000;
    while (Date.parse(mine().lastSeenAt) <= before && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(Date.parse(mine().lastSeenAt)).toBeGreaterThan(before);
    c.ws.close();
    await c.closed;
  });

  it('applies the command rules: a blocked command never reaches the target', async () => {
    const grant = await h.grant();
    const c = connect(`/ws/ssh/${grant.grantId}`, { browser: h.vendor.browser });
    await c.control('ready');
    await c.until(PROMPT);
    send(c, `touch ${marker}\r`);
    await c.until(/command blocked: marker files are not allowed/);
    send(c, 'echo after-$((1+1))\r');
    await c.until(/after-2/);
    const { existsSync } = await import('node:fs');
    expect(existsSync(marker)).toBe(false);
    c.ws.close();
    await c.closed;
  });

  it('ends the terminal when the web session is logged out', async () => {
    const { browser, me } = await signIn({ ...h, close: async () => undefined }, 'vendor');
    await stepUp(browser, me.csrfToken, oathCode(h.vendor.totpSecret, h.clock.nextStep()));
    const grant = await h.grant();
    const c = connect(`/ws/ssh/${grant.grantId}`, { browser });
    const { sessionId } = await c.control('ready');
    await c.until(PROMPT);
    const res = await browser.fetch('/auth/logout', { method: 'POST', headers: { 'x-csrf-token': me.csrfToken } });
    expect(res.status).toBeLessThan(400);
    expect((await c.closed).code).toBe(4401);
    const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    expect(ended.data?.reason).toBe('client_closed');
  });
});

describe('live view', () => {
  let supervisor: Browser;
  let auditor: Browser;
  beforeAll(async () => {
    supervisor = (await signIn({ ...h, close: async () => undefined }, 'supervisor')).browser;
    auditor = (await signIn({ ...h, close: async () => undefined }, 'auditor')).browser;
  });

  it('starts from the current screen, then follows; read-only; audited; terminate closes both within a second', async () => {
    const grant = await h.grant();
    const vendor = connect(`/ws/ssh/${grant.grantId}`, { browser: h.vendor.browser });
    const sessionId = String((await vendor.control('ready')).sessionId);
    await vendor.until(PROMPT);
    send(vendor, 'echo before-$((20+1))\r');
    await vendor.until(/before-21/);

    // A vendor may not watch, not even their own session.
    const nosy = connect(`/ws/monitor/${sessionId}`, { browser: h.vendor.browser });
    expect((await nosy.control('error')).code).toBe('forbidden');

    const watch = connect(`/ws/monitor/${sessionId}`, { browser: supervisor });
    const screen = await watch.control('screen');
    expect(String(screen.data)).toContain('before-21');
    await h.waitAudit('session.monitored', (a) => a.subject?.sessionId === sessionId);
    // What the viewer sends never reaches the session.
    watch.ws.send(Buffer.from(`touch ${marker}-viewer\r`), { binary: true });
    send(vendor, 'echo during-$((40+2))\r');
    await watch.until(/during-42/);
    expect(watch.text()).not.toContain('viewer');

    const alsoWatching = connect(`/ws/monitor/${sessionId}`, { browser: auditor });
    expect(String((await alsoWatching.control('screen')).data)).toContain('during-42');

    const t0 = Date.now();
    // The reason is someone else's text: an escape sequence in it (OSC 52 clipboard write) must not reach the terminal.
    expect(
      await h.gw.liveSessions.close(
        sessionId,
        'terminated',
        'a supervisor terminated this session: test over\x1b]52;c;ZXZpbA==\x07',
      ),
    ).toBe(true);
    const [v, w] = await Promise.all([vendor.closed, watch.closed]);
    expect(Date.now() - t0).toBeLessThan(5000); // bounded wait, not a timing assertion: closes are awaited above
    expect(v.code).toBe(1000);
    expect(vendor.text()).toContain('a supervisor terminated this session: test over');
    expect(vendor.text()).not.toContain('\x1b]52');
    expect(w.code).toBe(1000);
    expect(watch.controls.find((x) => x.type === 'ended')?.reason).toBe('terminated');
    const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    expect(ended.data?.reason).toBe('terminated');
    const { existsSync } = await import('node:fs');
    expect(existsSync(`${marker}-viewer`)).toBe(false);
  });

  it('a frame above the limit closes that socket only: on the browser terminal and on the live view', async () => {
    const grant = await h.grant();
    const a = connect(`/ws/ssh/${grant.grantId}`, { browser: h.vendor.browser });
    const b = connect(`/ws/ssh/${grant.grantId}`, { browser: h.vendor.browser });
    const aId = String((await a.control('ready')).sessionId);
    await Promise.all([a.until(PROMPT), b.until(PROMPT)]);
    const watching = connect(`/ws/monitor/${aId}`, { browser: supervisor });
    const greedy = connect(`/ws/monitor/${aId}`, { browser: auditor });
    await Promise.all([watching.control('screen'), greedy.control('screen')]);
    const big = Buffer.alloc((1 << 20) + 1, 0x61); // one byte over the door's 1 MiB

    greedy.ws.send(big, { binary: true });
    expect((await greedy.closed).code).toBe(1009);
    send(a, 'echo still-$((1+1))\r');
    await Promise.all([a.until(/still-2\r?\n/), watching.until(/still-2\r?\n/)]);

    a.ws.send(big, { binary: true });
    expect((await a.closed).code).toBe(1009);
    expect((await h.waitAudit('session.ended', (x) => x.subject?.sessionId === aId)).data?.reason).toBe(
      'client_closed',
    );
    expect(watching.controls.find((x) => x.type === 'ended')?.reason).toBe('client_closed');
    // The other terminal on the same grant and web session carries on.
    send(b, 'echo b-alive-$((2+2))\r');
    await b.until(/b-alive-4\r?\n/);
    send(b, 'exit\r');
    expect((await b.closed).code).toBe(1000);
  });

  it('refuses a session that is not live', async () => {
    const c = connect('/ws/monitor/ses_notlive', { browser: supervisor });
    expect((await c.control('error')).code).toBe('not_live');
    expect((await c.closed).code).toBe(4404);
  });
});
