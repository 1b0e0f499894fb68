// The RDP certificate pin and what guacd must understand, against the Guacamole-protocol stand-in, which reads
// `cert-fingerprints` as FreeRDP 2 inside guacd 1.6 does (a list it would loop on hangs there too): the pin reaches
// guacd in the one form every FreeRDP accepts, with trust-on-first-use off; a certificate that does not match ends
// the session at guacd's `error`, with the reason the vendor reads and guacd's own words in the trail; a guacd that
// does not ask for a parameter the session depends on gets no `connect` at all, so no credential either.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freerdpPinCheck,
  type GuacdStandin,
  RDP_ARGS,
  TLS_FAILED,
  UPSTREAM_NOT_FOUND,
} from '../helpers/guacd-standin.js';
import { type Person, RDP_PASSWORD, type RdpWorld, type StandinWorld, startStandinWorld } from './rdp-fixture.js';

const PIN = Array.from({ length: 32 }, (_, i) => ((i * 37 + 5) % 256).toString(16).padStart(2, '0')).join(':');

let standin: GuacdStandin;
let w: RdpWorld;
let vendor: Person;
let world: StandinWorld | undefined;

beforeAll(async () => {
  // Written as a Windows certificate dialog shows it: upper case, no separators; the config keeps FreeRDP's form.
  world = await startStandinWorld({ certSha256: PIN.replaceAll(':', '').toUpperCase() }, { certSha256: PIN });
  ({ standin, w, vendor } = world);
}, 60_000);
afterAll(() => world?.close());

const without = (...names: string[]) => RDP_ARGS.filter((n) => !names.includes(n));

/** A vendor connection on a fresh grant: the page's socket and the session's id. */
async function connect() {
  const g = await w.grant(vendor);
  const t = await w.token(vendor, g.grantId);
  const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
  return { c, sessionId: String(t.json.sessionId) };
}

describe('the stand-in reads cert-fingerprints as FreeRDP 2 does', () => {
  it('hangs on an entry without a known hash name, as guacd with FreeRDP 2 spins on it', () => {
    const upper = PIN.toUpperCase();
    // The list this gateway used to send: its first entry reads as hash "cf"-like nonsense.
    expect(freerdpPinCheck([PIN, `sha256:${PIN}`, upper, `sha256:${upper}`].join(','), PIN).result).toBe('hung');
    expect(freerdpPinCheck(PIN.replaceAll(':', ''), PIN).result).toBe('hung');
    expect(freerdpPinCheck(`sha256:${upper}`, PIN).result).toBe('accepted');
    expect(freerdpPinCheck(`sha1:${PIN},sha256:${PIN}`, PIN).result).toBe('accepted');
    expect(freerdpPinCheck(`sha256:${PIN.replace(/^../, '00')}`, PIN).result).toBe('refused');
  });
});

describe('the certificate pin', () => {
  it('reaches guacd as sha256:<lower-case pin> only, with ignore-cert and trust on first use off; the desktop is drawn', async () => {
    const { c, sessionId } = await connect();
    await c.message('ready');
    const conn = await standin.waitFor('the connection', () =>
      standin.connections.find((x) => x.owner.params['recording-name'] === `${sessionId}.guac`),
    );
    const p = conn.owner.params;
    expect(p['ignore-cert']).toBe('false');
    expect(p['cert-tofu']).toBe('false');
    expect(p['cert-fingerprints']).toBe(`sha256:${PIN}`);
    expect(conn.pin).toEqual({ result: 'accepted' });
    await c.instruction('size', (i) => i.args[0] === '0');
    await c.instruction('sync');
    c.ws.close();
    expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
      'client_closed',
    );
  });

  it("a workstation whose certificate changed: ended at guacd's error, the vendor reads why, the trail keeps guacd's words", async () => {
    standin.certSha256 = PIN.replace(/^../, 'ff');
    try {
      const { c, sessionId } = await connect();
      await c.message('ready');
      const ended = await c.message('ended');
      expect(ended.reason).toBe('error');
      expect(String(ended.message)).toMatch(/^the workstation's certificate does not match the pinned one/);
      // The page's Guacamole client gets the same sentence with guacd's status, not guacd's own error.
      const err = await c.instruction('error');
      expect(err.args).toEqual([String(ended.message), String(UPSTREAM_NOT_FOUND)]);
      expect(c.instructions.filter((i) => i.opcode === 'error')).toHaveLength(1);
      await c.closed;
      const audited = await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
      // The first, specific error; not the generic one guacd sent right after it, nor the idle end that would follow.
      expect(audited.data).toMatchObject({
        reason: 'error',
        message: ended.message,
        guacdError: { message: TLS_FAILED, status: UPSTREAM_NOT_FOUND },
      });
      expect(JSON.stringify(await w.audit())).not.toContain(RDP_PASSWORD);
    } finally {
      standin.certSha256 = PIN;
    }
  });

  it('a guacd whose RDP client is stuck (keep-alives, no picture): the session is closed with the reason, not left blank', async () => {
    standin.mode = 'stuck';
    try {
      const { c, sessionId } = await connect();
      await c.message('ready');
      const ended = await c.message('ended', 15_000);
      expect(ended.reason).toBe('error');
      expect(String(ended.message)).toMatch(/showed nothing within 3 s/);
      expect(c.instructions.some((i) => i.opcode === 'size')).toBe(false);
      await c.closed;
      expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data).toMatchObject({
        reason: 'error',
        message: ended.message,
      });
    } finally {
      standin.mode = 'normal';
    }
  });
});

describe('a guacd that does not ask for what the session depends on', () => {
  for (const [missing, what] of [
    [['cert-fingerprints'], 'the certificate pin (guacd before 1.6)'],
    [['disable-copy', 'disable-paste'], 'the clipboard switched off'],
    [['recording-path'], 'the recording'],
  ] as const) {
    it(`without ${missing.join(', ')} (${what}): no connect, no credential; the page is told, the trail says why`, async () => {
      standin.args = without(...missing);
      try {
        const before = standin.connections.length;
        const g = await w.grant(vendor);
        const t = await w.token(vendor, g.grantId);
        const sessionId = String(t.json.sessionId);
        const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
        const ended = await c.message('ended');
        expect(ended.reason).toBe('error');
        expect(String(ended.message)).toContain(`guacd does not support ${missing.join(', ')}`);
        await c.closed;
        // The stand-in registers a connection only on `connect`: none was sent, so the password never left.
        expect(standin.connections.length).toBe(before);
        const audited = await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
        expect(audited.data).toMatchObject({ reason: 'error', handshakeError: { code: 'guacd_unsupported' } });
        expect(String((audited.data?.handshakeError as { message: string }).message)).toContain(missing.join(', '));
        expect(JSON.stringify(await w.audit())).not.toContain(RDP_PASSWORD);
      } finally {
        standin.args = RDP_ARGS;
      }
    });
  }

  it('a read-only viewer is not joined through a guacd that does not know read-only', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    const ready = await c.message('ready');
    const sessionId = String(ready.sessionId);
    const conn = await standin.waitFor('the connection', () =>
      standin.connections.find((x) => x.owner.params['recording-name'] === `${sessionId}.guac`),
    );
    const supervisor = await w.person('supervisor');
    standin.args = without('read-only');
    try {
      const wt = await w.post(supervisor, `/api/sessions/${encodeURIComponent(sessionId)}/rdp-watch-token`, {
        width: 1024,
        height: 768,
        dpi: 96,
      });
      expect(wt.status).toBe(201);
      const v = w.open(supervisor, `/ws/rdp?token=${String(wt.json.token)}`);
      const ended = await v.message('ended');
      expect(String(ended.message)).toContain('guacd does not support read-only');
      await v.closed;
      expect(conn.joiners).toHaveLength(0);
    } finally {
      standin.args = RDP_ARGS;
    }
    c.ws.close();
    await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
  });
});
