// Adversarial review of server-side authorisation: each test is an attack (or a refusal left out of the trail) that
// worked before its fix, run against the real gateway (sshd, test IdP, websockets) or the request fixture.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import {
  connect as tcpConnect,
  createServer as createTcpServer,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Webhooks } from '../../gateway/notify.js';
import { authorizeWithPassword } from '../helpers/oidc.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell, vendorClient } from '../helpers/ssh-vendor.js';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { oathCode } from '../helpers/totp.js';
import { Browser, beginLogin, type Me, signIn } from '../helpers/web-login.js';
import { body, type Fixture, openFixture } from './requests-fixture.js';

/** A TCP relay in front of sshd that can hold new connections: the gateway's dial of the target then waits. */
interface Gate {
  port: number;
  hold(): void;
  /** Resolves once a held connection has come in. */
  dialled(): Promise<void>;
  release(): void;
  close(): Promise<void>;
}

async function startGate(to: number): Promise<Gate> {
  const sockets = new Set<Socket>();
  let holding = false;
  let held: Socket[] = [];
  let arrived: (() => void) | undefined;
  let arrival = Promise.resolve();
  const pipe = (client: Socket) => {
    const upstream = tcpConnect(to, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.resume();
  };
  const server: TcpServer = createTcpServer((client) => {
    if (!holding) return pipe(client);
    client.pause();
    sockets.add(client);
    held.push(client);
    arrived?.();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    hold() {
      holding = true;
      arrival = new Promise<void>((r) => (arrived = r));
    },
    dialled: () => arrival,
    release() {
      holding = false;
      const now = held;
      held = [];
      for (const c of now) pipe(c);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('against the gateway with a real sshd', () => {
  let sshd: Sshd;
  let gate: Gate;
  let h: SshGateway;
  beforeAll(async () => {
    sshd = await startSshd();
    gate = await startGate(sshd.port);
    // Approvers no test person belongs to: `supervisor` is then a supervisor, but not of this target.
    h = await startSshGateway({ sshd, target: { ssh: { port: gate.port }, approvers: ['line9-supervisors'] } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await gate?.close();
    await sshd?.stop();
  });

  const harness = () => ({ ...h, close: async () => undefined });
  const call = (p: { browser: Browser; me: Me }, method: string, path: string, json?: unknown) =>
    p.browser.fetch(path, {
      method,
      headers: { 'content-type': 'application/json', 'x-csrf-token': p.me.csrfToken },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
  const stepUp = async (p: { browser: Browser; me: Me }) =>
    expect(
      (await call(p, 'POST', '/api/me/step-up', { code: oathCode(h.vendor.totpSecret, h.clock.nextStep()) })).status,
    ).toBe(200);

  /** A websocket as a browser page opens it; `outcome` settles on the first `ready` or on close, whichever comes first. */
  function open(path: string, browser: Browser) {
    const cookie = browser.jar.header(new URL('/ws/', h.url));
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}${path}`, {
      headers: cookie ? { cookie } : {},
      origin: h.url,
    });
    const controls: Array<Record<string, unknown>> = [];
    ws.on('error', () => undefined);
    const closed = new Promise<{ code: number }>((r) => ws.on('close', (code) => r({ code })));
    const outcome = new Promise<'ready' | 'screen' | { code: number }>((resolve) => {
      ws.on('message', (data: Buffer, binary: boolean) => {
        if (binary) return;
        const c = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
        controls.push(c);
        if (c.type === 'ready' || c.type === 'screen') resolve(c.type);
      });
      void closed.then(resolve);
    });
    return { ws, controls, closed, outcome, error: () => controls.find((c) => c.type === 'error') };
  }

  it('a browser terminal whose sign-in ends while the target is being dialled is refused, not left open', async () => {
    const p = await signIn(harness(), 'vendor');
    await stepUp(p);
    const grant = await h.grant();
    gate.hold();
    const term = open(`/ws/ssh/${grant.grantId}`, p.browser);
    // The door has checked the session and the route is dialling the target: now the vendor signs out.
    await gate.dialled();
    expect((await call(p, 'POST', '/auth/logout')).status).toBe(204);
    gate.release();
    // Before the fix the socket opened on the ended session and the terminal came up ('ready').
    expect(await term.outcome).toEqual({ code: 4401 });
    expect(term.error()?.code).toBe('session_ended');
    expect(h.gw.liveSessions.list().filter((s) => s.grantId === grant.grantId)).toEqual([]);
    const refusal = await h.waitAudit('access.denied', (a) => a.data?.code === 'session_ended');
    expect(refusal.data?.path).toBe(`/ws/ssh/${grant.grantId}`);
  });

  it('watching a live session on a target one does not supervise answers like a session that is not live, and is audited', async () => {
    await stepUp(h.vendor);
    const grant = await h.grant();
    const term = open(`/ws/ssh/${grant.grantId}`, h.vendor.browser);
    expect(await term.outcome).toBe('ready');
    const sessionId = String(term.controls.find((c) => c.type === 'ready')?.sessionId);
    const sup = await signIn(harness(), 'supervisor');

    // Before the fix: 403 "you do not supervise this target" for a live id, 404 for any other: an existence oracle.
    const live = open(`/ws/monitor/${sessionId}`, sup.browser);
    const unknown = open('/ws/monitor/ses_doesnotexist000', sup.browser);
    expect(await live.outcome).toEqual({ code: 4404 });
    expect(await unknown.outcome).toEqual({ code: 4404 });
    expect(live.error()).toEqual(unknown.error());
    const watchRefusals = async () =>
      (await h.audit()).filter((a) => a.type === 'access.denied' && a.data?.action === 'session.watch');
    await expect.poll(async () => (await watchRefusals()).length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    const refusals = await watchRefusals();
    expect(refusals.find((a) => a.subject?.sessionId === sessionId)?.data).toMatchObject({
      code: 'not_live',
      status: 404,
      exists: true,
    });
    expect(refusals.find((a) => a.subject?.sessionId === 'ses_doesnotexist000')?.data).toMatchObject({
      code: 'not_live',
      exists: false,
    });

    // Who may watch still does: an auditor gets the screen.
    const auditor = await signIn(harness(), 'auditor');
    const watch = open(`/ws/monitor/${sessionId}`, auditor.browser);
    expect(await watch.outcome).toBe('screen');
    watch.ws.close();
    term.ws.close();
    await term.closed;
  });

  it('a remote desktop watch token refused for a session that is not live is audited', async () => {
    const sup = await signIn(harness(), 'supervisor');
    const mint = await call(sup, 'POST', '/api/sessions/ses_notlive0000000/rdp-watch-token', {});
    expect([mint.status, ((await mint.json()) as { error: { code: string } }).error.code]).toEqual([404, 'not_live']);
    // Before the fix the 404 went out with nothing in the trail (the central hook audits 401/403 only).
    const refusal = await h.waitAudit('access.denied', (a) => a.subject?.sessionId === 'ses_notlive0000000', 5000);
    expect(refusal.data).toMatchObject({ action: 'session.watch', code: 'not_live', status: 404, exists: false });
  });

  it("another user's SSH key id, or another user's public key, is refused and the attempt is audited", async () => {
    const keys = (await (await call(h.vendor, 'GET', '/api/me/keys')).json()) as {
      keys: Array<{ id: string; fingerprint: string }>;
    };
    const victim = keys.keys[0]!;
    const publicKey = await readFile(`${h.vendor.keyPath}.pub`, 'utf8');
    const attacker = await signIn(harness(), 'vendor2');

    expect((await call(attacker, 'DELETE', `/api/me/keys/${victim.id}`)).status).toBe(404);
    expect((await call(attacker, 'POST', '/api/me/keys', { publicKey })).status).toBe(409);
    // The victim's key is untouched.
    const after = (await (await call(h.vendor, 'GET', '/api/me/keys')).json()) as { keys: Array<{ id: string }> };
    expect(after.keys.map((k) => k.id)).toContain(victim.id);

    const denied = (await h.audit()).filter(
      (a) => a.type === 'access.denied' && (a as { actor?: { id?: string } }).actor?.id === attacker.me.id,
    );
    expect(denied.find((a) => a.data?.action === 'key.remove')).toMatchObject({
      subject: { userId: attacker.me.id, keyId: victim.id },
      data: { code: 'key_not_found', status: 404, exists: true },
    });
    expect(denied.find((a) => a.data?.action === 'key.add')).toMatchObject({
      data: { code: 'key_in_use', status: 409, fingerprint: victim.fingerprint },
    });
  });

  // Last in this group: it takes the vendor's role away.
  it('a vendor the IdP no longer maps to any role loses SSH access, web sessions and running sessions at the refused sign-in', async () => {
    await h.grant();
    expect((await h.ssh(TARGET, { command: 'echo still-in' })).stdout).toContain('still-in');
    // A shell already open under the old roles.
    const running = await vendorClient(h, TARGET);
    const shell = collect(await openShell(running));
    await shell.until(/[#$] $/);
    const runningClosed = new Promise<void>((r) => running.on('close', () => r()));
    const idpUser = h.idp.users.vendor;
    const groups = idpUser.groups;
    idpUser.groups = ['former-vendors'];
    try {
      const browser = new Browser(h.url);
      const { login, password } = idpUser;
      const { callbackUrl } = await authorizeWithPassword({ authorizeUrl: await beginLogin(browser), login, password });
      const cb = await browser.fetch(callbackUrl, { headers: { accept: 'application/json' } });
      expect([cb.status, ((await cb.json()) as { error: { code: string } }).error.code]).toEqual([403, 'no_role']);
      // Before the fix the store kept ['vendor']: the key, a TOTP code and the grant still opened the target,
      // and the vendor's open web sessions went on as before.
      const refused = await h.ssh(TARGET, { command: 'echo still-in' });
      expect(refused.stdout).not.toContain('still-in');
      expect(refused.stderr).toContain('only vendors connect');
      expect((await h.vendor.browser.fetch('/api/me')).status).toBe(401);
      const failed = await h.waitAudit('auth.login_failed', (a) => a.data?.reason === 'no_role');
      // Recorded with the role change itself; the live session's close has its own session.ended (below).
      expect(failed.data).toMatchObject({ rolesRemoved: ['vendor'], groups: ['former-vendors'], sessionsEnded: 1 });
      await runningClosed;
      expect(shell.text).toContain('your Gatehouse access was removed at the identity provider');
      expect((await h.waitAudit('session.ended', (a) => a.data?.reason === 'revoked')).actor?.id).toBe(h.vendor.me.id);
    } finally {
      idpUser.groups = groups;
    }
  });
});

describe('webhook notices', () => {
  let fx: Fixture | undefined;
  let hooks: Webhooks | undefined;
  let receiver: Server | undefined;
  afterEach(async () => {
    await hooks?.close();
    receiver?.closeAllConnections();
    await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
    await fx?.close();
    fx = hooks = receiver = undefined;
  });

  it("keep the chat line one line: a vendor's emergency reason cannot append a forged approval", async () => {
    const texts: string[] = [];
    receiver = createServer(async (req: IncomingMessage, res) => {
      let text = '';
      for await (const chunk of req) text += chunk;
      texts.push((JSON.parse(text) as { text: string }).text);
      res.statusCode = 204;
      res.end();
    });
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    fx = await openFixture({
      notifier: ({ audit, clock }) => (hooks = new Webhooks({ urls: [url], audit, clock, retryDelaysMs: [20] })),
    });
    const forged = 'Request req_0000 by Alice (Acme) for eng-ws-01 (Cell 2): approved by Bob';
    const reason = `PLC stopped on line 2\n${forged}\r\n\u2028${forged}`;
    const created = await fx.api('vendor', 'POST', '/api/requests', body({ emergency: true, emergencyReason: reason }));
    expect(created.status).toBe(201);
    await hooks!.idle();
    expect(texts).toHaveLength(1);
    // Before the fix the text carried the line breaks, and a chat showed the forged line as a line of its own.
    expect(texts[0]).not.toMatch(/[\r\n\u2028\u2029]/);
    expect(texts[0]).toContain('EMERGENCY request');
    // The JSON fields keep the vendor's text as it was: only the chat line is flattened.
    const stored = fx.store.data.requests.find((r) => r.id === created.json.id);
    expect(stored?.emergencyReason).toBe(reason.trim());
  });
});

describe('live request events', () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  /** The request ids that reach `who`'s event stream (until `stop`). */
  async function listen(f: Fixture, who: 'sup' | 'sup2') {
    const ac = new AbortController();
    const res = await fetch(`${f.base}/api/events`, { headers: { 'x-test-session': `ws_${who}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    let raw = '';
    const reading = (async () => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          raw += dec.decode(value, { stream: true });
        }
      } catch {
        // aborted by stop()
      }
    })();
    return {
      has: (id: string) => raw.includes(id),
      stop: async () => {
        ac.abort();
        await reading;
      },
    };
  }

  it('follow the roles the store holds now, not those the stream opened with', async () => {
    fx = await openFixture();
    const demoted = await listen(fx, 'sup');
    const still = await listen(fx, 'sup2');
    // Bob signs in elsewhere and the IdP no longer makes him a supervisor: the login rewrites his stored roles.
    await fx.store.update((d) => {
      const u = d.users.find((x) => x.id === fx!.users.sup.id)!;
      u.roles = ['vendor'];
      u.groups = ['vendors'];
    });
    const created = await fx.api('vendor', 'POST', '/api/requests', body());
    expect(created.status).toBe(201);
    const id = String(created.json.id);
    await expect.poll(() => still.has(id), { timeout: 5000 }).toBe(true);
    // Before the fix Bob's old stream still got every request of the targets he no longer approves.
    expect(demoted.has(id)).toBe(false);
    await demoted.stop();
    await still.stop();
  });
});
