// The RDP certificate pin and what guacd must understand, against the Guacamole-protocol stand-in (guacd cannot be
// installed here): the pin reaches guacd with trust-on-first-use off, and a guacd that does not ask for a parameter
// the session depends on (the pin, a restriction, read-only) gets no `connect` at all, so no credential either.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GuacdStandin, RDP_ARGS } from '../helpers/guacd-standin.js';
import { type Person, RDP_PASSWORD, type RdpWorld, type StandinWorld, startStandinWorld } from './rdp-fixture.js';

const PIN = Array.from({ length: 32 }, (_, i) => ((i * 37 + 5) % 256).toString(16).padStart(2, '0')).join(':');

let standin: GuacdStandin;
let w: RdpWorld;
let vendor: Person;
let world: StandinWorld | undefined;

beforeAll(async () => {
  // Written as a Windows certificate dialog shows it: upper case, no separators; the config keeps FreeRDP's form.
  world = await startStandinWorld({ certSha256: PIN.replaceAll(':', '').toUpperCase() });
  ({ standin, w, vendor } = world);
}, 60_000);
afterAll(() => world?.close());

const without = (...names: string[]) => RDP_ARGS.filter((n) => !names.includes(n));

describe('the certificate pin', () => {
  it('reaches guacd as cert-fingerprints, with ignore-cert and trust on first use off', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    const ready = await c.message('ready');
    const conn = await standin.waitFor('the connection', () => standin.connections.find((x) => x.owner.params['recording-name'] === `${String(ready.sessionId)}.guac`));
    const p = conn.owner.params;
    expect(p['ignore-cert']).toBe('false');
    expect(p['cert-tofu']).toBe('false');
    const listed = p['cert-fingerprints']!.split(',');
    expect(listed).toContain(PIN);
    // Every form listed names this one certificate.
    for (const f of listed) expect(f.replace(/^sha256:/i, '').toLowerCase()).toBe(PIN);
    c.ws.close();
    await w.waitAudit('session.ended', (a) => a.subject?.sessionId === ready.sessionId);
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
    const conn = await standin.waitFor('the connection', () => standin.connections.find((x) => x.owner.params['recording-name'] === `${sessionId}.guac`));
    const supervisor = await w.person('supervisor');
    standin.args = without('read-only');
    try {
      const wt = await w.post(supervisor, `/api/sessions/${encodeURIComponent(sessionId)}/rdp-watch-token`, { width: 1024, height: 768, dpi: 96 });
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
