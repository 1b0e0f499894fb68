// The sessions API on the real gateway with a real SSH session: find it live, search its command, replay it, terminate it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandHit, SessionDetail, SessionView } from '../../gateway/library/session-views.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell, vendorClient } from '../helpers/ssh-vendor.js';
import { oathCode } from '../helpers/totp.js';
import { type Browser, type Me, signIn } from '../helpers/web-login.js';

let h: SshGateway;
let sup: { browser: Browser; me: Me };
let auditor: { browser: Browser; me: Me };

const PROMPT = /[#$] $/;
const call = async (who: { browser: Browser; me: Me }, method: string, path: string, body?: unknown) => {
  const res = await who.browser.fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json', 'x-csrf-token': who.me.csrfToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
};
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  h = await startSshGateway();
  await h.grant();
  sup = await signIn(h, 'supervisor');
  auditor = await signIn(h, 'auditor');
  const { secret } = (await call(sup, 'POST', '/api/me/totp/enroll', {})).json as { secret: string };
  expect((await call(sup, 'POST', '/api/me/totp/confirm', { code: oathCode(secret, h.clock.now()) })).status).toBe(200);
  expect((await call(sup, 'POST', '/api/me/step-up', { code: oathCode(secret, h.clock.nextStep()) })).status).toBe(200);
}, 90_000);
afterAll(async () => {
  await h?.close();
});

describe('a live SSH session through the sessions API', () => {
  it('is listed live, its command found and replayable, and a supervisor terminates it within the registry bound', async () => {
    const c = await vendorClient(h, TARGET);
    try {
      const sh = await openShell(c);
      const out = collect(sh);
      const closed = new Promise<void>((r) => sh.on('close', () => r()));
      await out.until(PROMPT);
      sh.write('echo Library-Marker-42\r');
      await out.until(/Library-Marker-42[\s\S]*Library-Marker-42/);

      const live = (await call(sup, 'GET', '/api/sessions?live=true')).json.sessions as SessionView[];
      expect(live).toHaveLength(1);
      const s = live[0]!;
      expect(s).toMatchObject({
        live: true,
        protocol: 'ssh',
        via: 'ssh',
        vendor: { name: 'Vera Vendor', org: 'Acme Automation' },
        can: { terminate: true, watch: true },
      });
      expect((await call(auditor, 'GET', '/api/sessions?live=true')).json.sessions[0].can.terminate).toBe(false);

      // The command is stored behind the relay: wait for it, then search as the auditor (case-insensitive).
      const hit = await until('the command in the search', async () => {
        const r = await call(auditor, 'GET', '/api/commands?q=library-marker');
        return (r.json.commands as CommandHit[])[0];
      });
      expect(hit).toMatchObject({ sessionId: s.id, text: 'echo Library-Marker-42', verdict: 'allowed' });
      expect(hit.offsetSeconds).toBeGreaterThan(0);
      expect(hit.offsetSeconds).toBeLessThan(60);
      // The live recording already holds the command's marker (flushed at least every second).
      const cast = await until('the marker in the live recording', async () => {
        const r = await call(auditor, 'GET', `/api/sessions/${s.id}/recording`);
        return r.text.includes('"m", "echo Library-Marker-42"') || r.text.includes('"m","echo Library-Marker-42"')
          ? r
          : undefined;
      });
      expect(cast.headers.get('x-recording-sha256')).toBeNull();

      // Terminate: CSRF and Origin checked by the real API guard, then the session is closed before the answer.
      const noCsrf = await sup.browser.fetch(`/api/sessions/${s.id}/terminate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"reason":"x"}',
      });
      expect(noCsrf.status).toBe(403);
      const t0 = Date.now();
      const r = await call(sup, 'POST', `/api/sessions/${s.id}/terminate`, { reason: 'Unannounced PLC download' });
      const answeredMs = Date.now() - t0;
      expect(r.status, r.text).toBe(200);
      expect(r.json.closed).toBe(true);
      expect(h.gw.liveSessions.get(s.id)).toBeUndefined();
      await Promise.race([
        closed,
        new Promise((_, rej) => setTimeout(() => rej(new Error('vendor channel not closed')), 5000)),
      ]);
      expect(out.text).toContain('[gatehouse] Sam Supervisor terminated this session: Unannounced PLC download');
      console.log(`terminate answered after ${answeredMs} ms (session closed by then)`);

      const ended = await until('the sealed record', async () => {
        const d = (await call(auditor, 'GET', `/api/sessions/${s.id}`)).json as SessionDetail;
        return d.recording?.sha256 ? d : undefined;
      });
      expect(ended).toMatchObject({ live: false, endReason: 'terminated', commands: { total: 1 } });
      const integrity = (await call(auditor, 'GET', `/api/sessions/${s.id}/recording/integrity`)).json;
      expect(integrity).toMatchObject({ state: 'verified', sealedSha256: ended.recording!.sha256 });
      const full = await call(auditor, 'GET', `/api/sessions/${s.id}/recording`);
      expect(full.headers.get('x-recording-sha256')).toBe(ended.recording!.sha256);
      expect(full.text).toContain('terminated this session');

      const terminated = await h.waitAudit('session.terminated');
      expect(terminated).toMatchObject({
        actor: { kind: 'user', name: 'Sam Supervisor' },
        subject: { sessionId: s.id, targetId: TARGET },
        data: { reason: 'Unannounced PLC download' },
      });
      await h.waitAudit('session.ended', (a) => a.subject?.sessionId === s.id && a.data?.reason === 'terminated');
      // The auditor viewed it twice, but one viewing in the period: one record.
      const viewed = (await h.audit()).filter((a) => a.type === 'recording.viewed' && a.subject?.sessionId === s.id);
      expect(viewed).toHaveLength(1);
      // A second terminate finds nothing live.
      expect((await call(sup, 'POST', `/api/sessions/${s.id}/terminate`, { reason: 'again' })).json.error.code).toBe(
        'not_live',
      );
    } finally {
      c.end();
    }
  });

  it('the vendor lists their own session but cannot fetch its recording or see the audit trail', async () => {
    const vendor = h.vendor;
    const own = await call(vendor, 'GET', '/api/sessions');
    expect(own.status).toBe(200);
    expect(own.json.sessions.length).toBeGreaterThan(0);
    const id = own.json.sessions[0].id as string;
    expect((await call(vendor, 'GET', `/api/sessions/${id}/recording`)).status).toBe(403);
    expect((await call(vendor, 'GET', '/api/audit')).status).toBe(403);
    expect((await call(vendor, 'GET', '/api/audit/verify')).status).toBe(403);
    const verify = await call(auditor, 'GET', '/api/audit/verify');
    expect(verify.json).toMatchObject({ ok: true, failure: null });
    expect(verify.json.lastCheckpoint.seq).toBeGreaterThan(0);
  });
});
