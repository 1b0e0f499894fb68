// RDP through guacd, against the Guacamole-protocol stand-in (guacd cannot be installed here): the door and the
// tokens, the exact connect arguments, the relay both ways, the recording and its seal, revoke, window end and a
// guacd that is down, refuses, drops, stalls or talks nonsense.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuacdStandin } from '../helpers/guacd-standin.js';
import {
  type GuacConn,
  type Person,
  RDP_PASSWORD,
  type RdpWorld,
  type StandinWorld,
  startStandinWorld,
} from './rdp-fixture.js';

let standin: GuacdStandin;
let w: RdpWorld;
let vendor: Person;
let world: StandinWorld | undefined;

beforeAll(async () => {
  world = await startStandinWorld();
  ({ standin, w, vendor } = world);
}, 60_000);
afterAll(() => world?.close());

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

async function connect(
  p: Person = vendor,
  size?: Record<string, unknown>,
): Promise<{ c: GuacConn; sessionId: string; grantId: string }> {
  const g = await w.grant(p);
  const t = await w.token(p, g.grantId, size);
  expect(t.status).toBe(201);
  const c = w.open(p, `/ws/rdp?token=${String(t.json.token)}`);
  const ready = await c.message('ready');
  expect(ready.sessionId).toBe(t.json.sessionId);
  return { c, sessionId: String(ready.sessionId), grantId: g.grantId };
}

const connectionOf = (sessionId: string) =>
  standin.connections.find((c) => c.owner.params['recording-name'] === `${sessionId}.guac`);

describe('the door and the tokens', () => {
  it('refuses a foreign Origin with a plain HTTP 403 before any token is looked at, and audits it', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const before = standin.selects.length;
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`, { origin: 'http://evil.example' });
    const status = await new Promise<number>((r) =>
      c.ws.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0)),
    );
    expect(status).toBe(403);
    const a = await w.waitAudit(
      'access.denied',
      (x) => x.data?.code === 'origin_refused' && x.data?.path === '/ws/rdp',
    );
    // The audit keeps the path only: the token never lands in the trail.
    expect(JSON.stringify(a)).not.toContain(String(t.json.token));
    expect(standin.selects.length).toBe(before);
  });

  it('mints only for the own approved RDP grant with a fresh step-up, and only a bounded size', async () => {
    const g = await w.grant(vendor);
    expect((await w.token(vendor, g.grantId, { width: 1e6, height: 10, dpi: 96 })).json).toMatchObject({
      error: { code: 'invalid_size' },
    });
    expect((await w.token(vendor, g.grantId, { width: 1280, height: 720, hostname: 'evil.example' })).status).toBe(400);
    const other = await w.person('vendor2');
    const r = await w.token(other, g.grantId);
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: { code: 'no_grant' } });
    const sshGrant = await w.grant(vendor, { targetId: 'ssh-only', protocol: 'ssh' });
    expect((await w.token(vendor, sshGrant.grantId)).json).toMatchObject({ error: { code: 'no_grant' } });
    const rdpAsSsh = await w.grant(vendor, { protocol: 'ssh' });
    expect((await w.token(vendor, rdpAsSsh.grantId)).json).toMatchObject({ error: { code: 'wrong_protocol' } });
    const later = await w.grant(vendor, { startsAt: new Date(w.clock.now() + 3600_000).toISOString() });
    expect((await w.token(vendor, later.grantId)).json).toMatchObject({ error: { code: 'window_not_started' } });
    const unstepped = await w.person('vendor', { stepUp: false });
    const g2 = await w.grant(unstepped);
    expect((await w.token(unstepped, g2.grantId)).json).toMatchObject({ error: { code: 'stepup_required' } });
  });

  it('refuses a token used twice; the second attempt dials nothing', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const first = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    await first.message('ready');
    const before = standin.selects.length;
    const second = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    expect((await second.message('error')).code).toBe('rdp_token_invalid');
    expect((await second.closed).code).toBe(4403);
    expect(standin.selects.length).toBe(before);
    first.ws.close();
    await first.closed;
  });

  it("refuses another user's token (and burns it), an expired token, and no token", async () => {
    const thief = await w.person('vendor2'); // (its step-up moves the clock: before the token is minted)
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const stolen = w.open(thief, `/ws/rdp?token=${String(t.json.token)}`);
    expect((await stolen.message('error')).code).toBe('rdp_token_foreign');
    await w.waitAudit('access.denied', (a) => a.data?.code === 'rdp_token_foreign' && a.actor?.id === thief.me.id);
    const after = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    expect((await after.message('error')).code).toBe('rdp_token_invalid');

    const t2 = await w.token(vendor, g.grantId);
    w.clock.offset += 31_000;
    const late = w.open(vendor, `/ws/rdp?token=${String(t2.json.token)}`);
    expect((await late.message('error')).code).toBe('rdp_token_expired');
    const none = w.open(vendor, '/ws/rdp');
    expect((await none.message('error')).code).toBe('rdp_token_invalid');
    const anonymous = w.open(null, `/ws/rdp?token=${String(t2.json.token)}`);
    expect((await anonymous.message('error')).code).toBe('login_required');
  });

  it('checks the grant again at connect: a grant revoked after minting is refused before guacd is dialled', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    await w.gw.store.update((d) => {
      const r = d.requests.find((x) => x.grantId === g.grantId)!;
      r.state = 'revoked';
    });
    const before = standin.selects.length;
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    expect((await c.message('error')).code).toBe('grant_revoked');
    expect(standin.selects.length).toBe(before);
  });
});

describe('a remote desktop session', () => {
  it('sends guacd exactly the target’s settings, relays both ways, records and seals', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId, { width: 1600, height: 900, dpi: 120 });
    // Anything else in the websocket URL is ignored: settings come from the config only.
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}&hostname=evil.example&width=99999&GUAC_AUDIO=x`);
    const ready = await c.message('ready');
    const sessionId = String(ready.sessionId);
    expect(ready).toMatchObject({ targetId: 'eng-ws-01', endsAt: g.endsAt });
    const conn = await standin.waitFor('the connection', () => connectionOf(sessionId));
    const started = new Date(w.gw.store.data.sessions.find((s) => s.id === sessionId)!.startedAt);
    const day = `${started.getUTCFullYear()}/${String(started.getUTCMonth() + 1).padStart(2, '0')}/${String(started.getUTCDate()).padStart(2, '0')}`;
    const p = conn.owner.params;
    expect(conn.owner.select).toBe('rdp');
    expect(p).toMatchObject({
      VERSION: 'VERSION_1_5_0',
      hostname: '10.2.0.15',
      port: '3389',
      username: 'maint',
      password: RDP_PASSWORD,
      security: 'nla',
      'ignore-cert': 'false',
      'recording-path': join(w.gw.storageDir, 'sessions', day),
      'recording-name': `${sessionId}.guac`,
      'create-recording-path': 'true',
      'recording-include-keys': 'false',
      'disable-copy': 'true',
      'disable-paste': 'true',
      'enable-drive': 'false',
      'disable-download': 'true',
      'disable-upload': 'true',
      'enable-printing': 'false',
      'enable-sftp': 'false',
      'enable-audio-input': 'false',
      'read-only': 'false',
      width: '1600',
      height: '900',
      dpi: '120',
      timezone: 'Europe/Berlin',
      'drive-path': '',
      'remote-app': '',
      'gateway-hostname': '',
    });
    expect(conn.owner.handshake.size).toEqual(['1600', '900', '120']);
    expect(conn.owner.handshake.timezone).toEqual(['Europe/Berlin']);
    expect(conn.owner.handshake.name).toEqual([vendor.me.name]);
    expect(conn.owner.handshake.audio).toEqual([]);

    // guacd → browser: the scripted frame; browser → guacd: input, and only input.
    await c.instruction('cfill');
    c.send('key', 65, 1);
    c.send('key', 65, 0);
    c.send('mouse', 10, 20, 1);
    c.send('size', 1280, 720);
    c.send('argv', 1, 'text/plain', 'password');
    c.send('clipboard', 2, 'text/plain');
    c.send('', 'ping', 12345);
    c.ws.send('this is not guacamole');
    await standin.waitFor('input at guacd', () => conn.owner.received.some((i) => i.opcode === 'size'));
    expect(conn.owner.received.map((i) => i.opcode)).toEqual(['key', 'key', 'mouse', 'size']);
    expect(conn.owner.received[0]!.args).toEqual(['65', '1']);
    await c.instruction('', (i) => i.args[0] === 'ping' && i.args[1] === '12345');
    standin.paint(conn.id, [200, 10, 10]);
    await c.instruction('cfill', (i) => i.args[2] === '200');

    c.ws.close();
    const ended = await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    expect(ended.data).toMatchObject({ reason: 'client_closed', via: 'rdp', droppedFromBrowser: 3 });
    const sealed = await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);
    const file = join(w.gw.storageDir, 'sessions', day, `${sessionId}.guac`);
    expect(sealed.data?.sha256).toBe(await sha256(file));
    expect(sealed.data?.bytes).toBe((await stat(file)).size);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('5.cfill,2.14,1.0,3.200');
    const record = w.gw.store.data.sessions.find((s) => s.id === sessionId)!;
    expect(record).toMatchObject({
      protocol: 'rdp',
      via: 'rdp',
      endReason: 'client_closed',
      recording: { path: `sessions/${day}/${sessionId}.guac`, sha256: sealed.data?.sha256 },
    });
    expect(record.recording?.incomplete).toBeUndefined();
    const startedAudit = await w.waitAudit('session.started', (a) => a.subject?.sessionId === sessionId);
    expect(JSON.stringify(startedAudit)).not.toContain(RDP_PASSWORD);
    expect(JSON.stringify(await w.audit())).not.toContain(RDP_PASSWORD);
    expect(w.gw.liveSessions.get(sessionId)).toBeUndefined();
  });

  it('revoking the grant mid-session closes it (the page is told why) and seals the recording', async () => {
    const { c, sessionId, grantId } = await connect();
    const supervisor = await w.person('supervisor');
    const request = w.gw.store.data.requests.find((r) => r.grantId === grantId)!;
    const r = await w.post(supervisor, `/api/requests/${request.id}/revoke`, { reason: 'line restarted' });
    expect(r.status).toBe(200);
    const ended = await c.message('ended');
    expect(ended.reason).toBe('revoked');
    expect(String(ended.message)).toContain('line restarted');
    expect(c.instructions.find((i) => i.opcode === 'error')?.args[0]).toContain('line restarted');
    expect((await c.closed).code).toBe(1000);
    expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
      'revoked',
    );
    await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);
    expect(w.gw.liveSessions.get(sessionId)).toBeUndefined();
  });

  it('a supervisor watches read-only (joined with read-only, no credentials, input dropped), audited', async () => {
    const { c, sessionId } = await connect();
    const conn = await standin.waitFor('the connection', () => connectionOf(sessionId));
    const supervisor = await w.person('supervisor', { stepUp: false });
    const mint = await w.post(supervisor, `/api/sessions/${sessionId}/rdp-watch-token`, {
      width: 1024,
      height: 768,
      dpi: 96,
    });
    expect(mint.status).toBe(201);
    const v = w.open(supervisor, `/ws/rdp?token=${String(mint.json.token)}`);
    expect(await v.message('ready')).toMatchObject({ readOnly: true, sessionId, userId: vendor.me.id });
    await v.instruction('cfill');
    const joiner = await standin.waitFor('the viewer at guacd', () => conn.joiners[0]);
    expect(joiner.select).toBe(conn.id);
    expect(joiner.params['read-only']).toBe('true');
    expect(joiner.params.password).toBe('');
    expect(joiner.params.hostname).toBe('');
    v.send('key', 65, 1);
    v.send('mouse', 1, 1, 1);
    v.send('nop');
    await standin.waitFor('the nop', () => joiner.received.some((i) => i.opcode === 'nop'));
    expect(joiner.received.map((i) => i.opcode)).not.toContain('key');
    expect(joiner.received.map((i) => i.opcode)).not.toContain('mouse');
    standin.paint(conn.id, [1, 2, 3]);
    await v.instruction('cfill', (i) => i.args[2] === '1');
    const monitored = await w.waitAudit('session.monitored', (a) => a.subject?.sessionId === sessionId);
    expect(monitored.actor?.id).toBe(supervisor.me.id);
    // A vendor may not watch; an unknown session is not live.
    expect((await w.post(vendor, `/api/sessions/${sessionId}/rdp-watch-token`, {})).status).toBe(403);
    expect((await w.post(supervisor, '/api/sessions/ses_doesnotexist00/rdp-watch-token', {})).status).toBe(404);

    c.ws.close();
    expect(String((await v.message('ended')).message)).toMatch(/ended/);
    await v.closed;
  });

  it('a frame above the limit closes that socket only: the viewer, then the vendor; another session carries on', async () => {
    const one = await connect();
    const other = await connect();
    const conn = await standin.waitFor('the connection', () => connectionOf(one.sessionId));
    const otherConn = await standin.waitFor('the other connection', () => connectionOf(other.sessionId));
    const supervisor = await w.person('supervisor', { stepUp: false });
    const mint = await w.post(supervisor, `/api/sessions/${one.sessionId}/rdp-watch-token`, {
      width: 1024,
      height: 768,
      dpi: 96,
    });
    const viewer = w.open(supervisor, `/ws/rdp?token=${String(mint.json.token)}`);
    await viewer.message('ready');
    const big = 'x'.repeat((1 << 20) + 1); // one byte over the door's 1 MiB

    viewer.ws.send(big);
    expect((await viewer.closed).code).toBe(1009);
    one.c.send('', 'ping', 1);
    await one.c.instruction('', (i) => i.args[0] === 'ping' && i.args[1] === '1');

    one.c.ws.send(big);
    expect((await one.c.closed).code).toBe(1009);
    expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === one.sessionId)).data?.reason).toBe(
      'client_closed',
    );
    other.c.send('', 'ping', 2);
    await other.c.instruction('', (i) => i.args[0] === 'ping' && i.args[1] === '2');
    expect(conn.id).not.toBe(otherConn.id);
    other.c.ws.close();
    await other.c.closed;
  });
});

describe('a guacd that misbehaves', () => {
  it('down: the page reads that guacd is unreachable; refused and audited, no session', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    await standin.listening(false);
    try {
      const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
      const err = await c.message('error');
      expect(err.code).toBe('guacd_unreachable');
      expect(String(err.message)).toMatch(/guacd.*not reachable/);
      expect((await c.closed).code).toBe(4503);
      const refused = await w.waitAudit('session.refused', (a) => a.subject?.grantId === g.grantId);
      expect(refused.data?.code).toBe('guacd_unreachable');
    } finally {
      await standin.listening(true);
    }
  });

  it("the target unreachable: ended at guacd's error, the page reads what it means, the trail keeps guacd's words", async () => {
    standin.mode = 'upstream-error';
    try {
      const { c, sessionId } = await connect();
      const ended = await c.message('ended');
      expect(ended.reason).toBe('error');
      expect(String(ended.message)).toBe(
        'the workstation could not be reached: it may be off, or not reachable from the remote desktop service (Connection failed (server unreachable?))',
      );
      const err = await c.instruction('error');
      expect(err.args).toEqual([String(ended.message), String(0x0207)]);
      await c.closed;
      const audited = await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
      expect(audited.data).toMatchObject({
        reason: 'error',
        message: ended.message,
        guacdError: { message: 'Connection failed (server unreachable?)', status: 0x0207 },
      });
      await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);
    } finally {
      standin.mode = 'normal';
    }
  });

  it("the desktop logs off: guacd's disconnect ends the session at once as target_closed, without waiting for the socket", async () => {
    standin.mode = 'bye';
    try {
      const { c, sessionId } = await connect();
      const ended = await c.message('ended');
      expect(ended).toMatchObject({ reason: 'target_closed', message: 'the remote desktop session ended' });
      await c.closed;
      expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data).toMatchObject({
        reason: 'target_closed',
        message: 'the remote desktop session ended',
      });
      await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);
    } finally {
      standin.mode = 'normal';
    }
  });

  for (const [mode, why] of [
    ['drop', /lost.*closed/],
    ['stall', /stopped responding/],
    ['garbage', /malformed/],
  ] as const) {
    it(`${mode}: the page is told, the session ends as error, the recording is sealed`, async () => {
      standin.mode = mode;
      try {
        const { c, sessionId } = await connect();
        const ended = await c.message('ended', 15_000);
        expect(ended.reason).toBe('error');
        expect(String(ended.message)).toMatch(why);
        await c.closed;
        expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
          'error',
        );
        const sealed = await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);
        expect(sealed.data?.sha256).toMatch(/^[0-9a-f]{64}$/);
      } finally {
        standin.mode = 'normal';
      }
    });
  }

  it('refuses the handshake: the page is told what guacd said, the session ends as error', async () => {
    standin.mode = 'refuse-handshake';
    try {
      const g = await w.grant(vendor);
      const t = await w.token(vendor, g.grantId);
      const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
      const ended = await c.message('ended');
      expect(String(ended.message)).toContain('Unsupported protocol');
      await c.closed;
      const sessionId = String(t.json.sessionId);
      expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
        'error',
      );
      // guacd never took the connection: nothing was shown, so the session has no recording to miss.
      expect(w.gw.store.data.sessions.find((s) => s.id === sessionId)?.recording).toBeUndefined();
      expect((await w.audit()).some((a) => a.type === 'recording.failed' && a.subject?.sessionId === sessionId)).toBe(
        false,
      );
    } finally {
      standin.mode = 'normal';
    }
  });

  it('writes no recording: the session is closed (fail closed), recording.failed audited', async () => {
    standin.mode = 'no-recording';
    try {
      const { c, sessionId } = await connect();
      const ended = await c.message('ended');
      expect(ended.reason).toBe('recording_failed');
      await c.closed;
      await w.waitAudit('recording.failed', (a) => a.subject?.sessionId === sessionId);
      expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
        'recording_failed',
      );
      // The audit records become durable before the state that goes with them (the store's audit-first path).
      await expect
        .poll(() => w.gw.store.data.sessions.find((s) => s.id === sessionId)?.recording?.incomplete, {
          timeout: 10_000,
        })
        .toBe(true);
    } finally {
      standin.mode = 'normal';
    }
  });
});

// Last: it moves the gateway clock 11 minutes on.
describe('the access window', () => {
  it('the window end warns in the page, then closes the session', async () => {
    const g = await w.grant(vendor, { endsAt: new Date(w.clock.now() + 10 * 60_000).toISOString() });
    const t = await w.token(vendor, g.grantId);
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    const sessionId = String((await c.message('ready')).sessionId);
    w.clock.offset += 6 * 60_000; // 4 minutes left: the 5-minute warning
    const notice = await c.message('notice');
    expect(String(notice.message)).toMatch(/minute/);
    w.clock.offset += 5 * 60_000; // past the end
    const ended = await c.message('ended');
    expect(ended.reason).toBe('window_ended');
    await c.closed;
    expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
      'window_ended',
    );
    await w.waitAudit('session.warned', (a) => a.subject?.sessionId === sessionId);
  });
});

// Very last: it stops the gateway.
describe('the gateway stopping', () => {
  it('ends every RDP session (the page is told), sealed and audited before the log closes', async () => {
    await w.stepUp(vendor);
    const { c, sessionId } = await connect();
    await w.gw.stop('test');
    expect((await c.message('ended')).reason).toBe('gateway_stopped');
    await c.closed;
    const log = await w.audit();
    const at = (type: string) => log.findIndex((a) => a.type === type && a.subject?.sessionId === sessionId);
    expect(at('recording.sealed')).toBeGreaterThan(0);
    expect(at('session.ended')).toBeGreaterThan(at('recording.sealed'));
    expect(log.findIndex((a) => a.type === 'gateway.stopped')).toBeGreaterThan(at('session.ended'));
    expect(log.find((a) => a.type === 'session.ended' && a.subject?.sessionId === sessionId)?.data?.reason).toBe(
      'gateway_stopped',
    );
  });
});
