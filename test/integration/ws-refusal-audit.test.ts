// A frame the websocket door refuses on an open socket (over the 1 MiB bound, not UTF-8) is a refusal like any other:
// one access.denied naming the signed-in user and ws's code, never the message; rate-limited per IP like the rest;
// the gateway serves on. Real gateway, real sshd, real ws clients, as in web-terminal.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CLIENT_MESSAGE } from '../../gateway/http/http.js';
import { type AuditLine, type SshGateway, startSshGateway } from '../helpers/ssh-gateway.js';
import { type Monitor, openMonitor } from '../helpers/page-socket.js';
import { type Browser, signIn } from '../helpers/web-login.js';

/** Refusals audited per IP a minute here: small, so a burst of a few sockets goes past it. */
const PER_MINUTE = 3;
/** What the oversized messages are made of: it must never reach the audit log. */
const MARKER = 'NEVER-IN-THE-AUDIT-LOG-';

let h: SshGateway;
let supervisor: Browser;
let supervisorId: string;

beforeAll(async () => {
  h = await startSshGateway({ refusalsPerMinute: PER_MINUTE });
  const res = await h.vendor.browser.fetch('/api/me/step-up', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': h.vendor.me.csrfToken },
    body: JSON.stringify({ code: h.freshCode() }),
  });
  expect(res.status).toBe(200);
  const signedIn = await signIn({ ...h, close: async () => undefined }, 'supervisor');
  supervisor = signedIn.browser;
  supervisorId = signedIn.me.id;
}, 60_000);
afterAll(async () => {
  await h?.close();
});

type Conn = Monitor;

/** The page's socket to `path` on the gateway, signed in as `browser`. */
function connect(path: string, browser: Browser): Conn {
  const cookie = browser.jar.header(new URL('/ws/', h.url));
  return openMonitor(h.url, path, cookie ? { cookie } : {}, h.url);
}

const PROMPT = /[#$] $/;
const typeIn = (c: Conn, s: string) => c.ws.send(Buffer.from(s), { binary: true });
/** One byte over the door's bound, made of MARKER. */
const oversized = () => Buffer.alloc(MAX_CLIENT_MESSAGE + 1, MARKER);
/** The refused-frame records for `path`, oldest first. */
const refusedFrames = async (path: string) =>
  ((await h.audit()) as AuditLine[]).filter(
    (a) => a.type === 'access.denied' && a.data?.path === path && typeof a.data?.wsCode === 'string',
  );
/** Waits (bounded) until `n` refused-frame records for `path` are written. */
async function audited(path: string, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  while ((await refusedFrames(path)).length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}
/** A fresh rate-limit window for this IP: the limiter reads the gateway's clock. */
const nextMinute = () => void (h.clock.offset += 61_000);

async function terminal(): Promise<{ c: Conn; sessionId: string; path: string }> {
  const grant = await h.grant();
  const path = `/ws/ssh/${grant.grantId}`;
  const c = connect(path, h.vendor.browser);
  const sessionId = String((await c.control('ready')).sessionId);
  await c.until(PROMPT);
  return { c, sessionId, path };
}

async function echoes(c: Conn, n: number): Promise<void> {
  typeIn(c, `echo alive-$((${n}+1))\r`);
  await c.until(new RegExp(`alive-${n + 1}\\r?\\n`));
}

describe('a frame the websocket door refuses', () => {
  it('over the bound: closed 1009 with a reason, one access.denied naming the user and the code, no bytes of it', async () => {
    nextMinute();
    const { c, path } = await terminal();
    c.ws.send(oversized(), { binary: true });
    const closed = await c.closed;
    expect(closed.code).toBe(1009);
    expect(closed.reason).toBe(`message too large (at most ${MAX_CLIENT_MESSAGE} bytes)`);

    const a = await h.waitAudit('access.denied', (x) => x.data?.path === path);
    expect(a.actor).toMatchObject({ kind: 'user', id: h.vendor.me.id });
    expect(a.data).toMatchObject({
      code: 'message_too_large',
      status: 413,
      method: 'GET',
      wsCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      maxPayload: MAX_CLIENT_MESSAGE,
    });
    // The gateway serves on: a second socket on the same sign-in works.
    const second = await terminal();
    await echoes(second.c, 41);
    second.c.ws.close();
    await second.c.closed;
    expect(await refusedFrames(path)).toHaveLength(1);
    expect(JSON.stringify(await h.audit())).not.toContain(MARKER);
  });

  it('a text frame that is not UTF-8 (hostile page): closed 1007, audited as invalid_frame; the session carries on', async () => {
    nextMinute();
    const vendor = await terminal();
    const path = `/ws/monitor/${vendor.sessionId}`;
    const watch = connect(path, supervisor);
    await watch.control('screen');
    watch.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    const closed = await watch.closed;
    expect(closed.code).toBe(1007);
    expect(closed.reason).toBe('text message is not valid UTF-8');
    const a = await h.waitAudit('access.denied', (x) => x.data?.path === path);
    expect(a.actor).toMatchObject({ kind: 'user', id: supervisorId });
    expect(a.data).toMatchObject({ code: 'invalid_frame', status: 400, wsCode: 'WS_ERR_INVALID_UTF8' });
    await echoes(vendor.c, 1);
    vendor.c.ws.close();
    await vendor.c.closed;
  });

  it('a burst on many sockets is rate-limited like other refusals: the rest counted, the count audited next', async () => {
    nextMinute();
    const vendor = await terminal();
    const path = `/ws/monitor/${vendor.sessionId}`;
    const sockets = 8;
    const viewers = Array.from({ length: sockets }, () => connect(path, supervisor));
    await Promise.all(viewers.map((v) => v.control('screen')));
    for (const v of viewers) for (let i = 0; i < 2; i++) v.ws.send(oversized(), { binary: true });
    // ws refuses a socket's first oversized message and closes it: one refusal a socket, each seen before its close.
    expect((await Promise.all(viewers.map((v) => v.closed))).map((c) => c.code)).toEqual(Array(sockets).fill(1009));
    await audited(path, PER_MINUTE);
    expect(await refusedFrames(path)).toHaveLength(PER_MINUTE);
    await echoes(vendor.c, 2);

    // A minute on, the next refusal is audited and carries what was only counted (or the hook's own minute flush did).
    nextMinute();
    const late = connect(path, supervisor);
    await late.control('screen');
    late.ws.send(oversized(), { binary: true });
    expect((await late.closed).code).toBe(1009);
    await audited(path, PER_MINUTE + 1);
    const counted = ((await h.audit()) as AuditLine[])
      .filter((a) => a.type === 'access.denied' && (a.data?.path === path || a.data?.code === 'refusals_suppressed'))
      .reduce((n, a) => n + Number(a.data?.suppressed ?? 0), 0);
    expect(counted).toBe(sockets - PER_MINUTE);
    expect(await refusedFrames(path)).toHaveLength(PER_MINUTE + 1);
    expect(JSON.stringify(await h.audit())).not.toContain(MARKER);
    await echoes(vendor.c, 3);
    vendor.c.ws.close();
    await vendor.c.closed;
  });
});
