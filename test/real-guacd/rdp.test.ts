// Against a REAL guacd and a real RDP server (e.g. guacd 1.6 and xrdp), when the environment names them:
//   GUACD_HOST, RDP_TEST_HOST, RDP_TEST_USER, RDP_TEST_PASSWORD (required)
//   GUACD_PORT (4822), RDP_TEST_PORT (3389), RDP_TEST_SECURITY (any)
//   RDP_TEST_CERT_SHA256: the certificate pin; default: what `gatehouse rdp-cert` reads from the RDP server now
//   (so guacd's cert-fingerprints check runs, and a wrong pin must be refused); RDP_TEST_IGNORE_CERT=true: no pin
//   GUACD_SHARED_DIR: a folder of this machine guacd can write to (default: the temp folder, for a guacd on this
//   machine running as this user); GUACD_RECORDING_DIR: the same folder as guacd sees it (a container's mount).
// Run with `npm run test:guacd` (not part of `npm test`: guacd cannot be installed on the CI machines); it fails
// at once, naming what is missing, if the environment does not name them. See docs/guacd.md.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeRdpCertificate } from '../../gateway/rdp/cert-probe.js';
import { type Person, type RdpWorld, startRdpWorld } from '../integration/rdp-fixture.js';

const env = process.env;
const missing = ['GUACD_HOST', 'RDP_TEST_HOST', 'RDP_TEST_USER', 'RDP_TEST_PASSWORD'].filter((k) => !env[k]);

/** A gateway whose RDP target is the test server, pinned to `pin` (or with ignoreCert when there is none). */
async function world(pin: string | undefined): Promise<RdpWorld> {
  return startRdpWorld({
    guacd: { host: env.GUACD_HOST!, port: Number(env.GUACD_PORT ?? 4822) },
    ...(env.GUACD_SHARED_DIR ? { parentDir: env.GUACD_SHARED_DIR } : {}),
    ...(env.GUACD_RECORDING_DIR ? { guacdSeesParentAs: env.GUACD_RECORDING_DIR } : {}),
    rdp: {
      host: env.RDP_TEST_HOST,
      port: Number(env.RDP_TEST_PORT ?? 3389),
      username: env.RDP_TEST_USER,
      credential: { env: 'RDP_TEST_PASSWORD' },
      security: env.RDP_TEST_SECURITY ?? 'any',
      ...(pin ? { certSha256: pin } : { ignoreCert: true }),
    },
    tuning: { handshakeMs: 15_000, recordingAppearMs: 20_000 },
  });
}

const pinned = env.RDP_TEST_IGNORE_CERT !== 'true';
async function thePin(): Promise<string | undefined> {
  if (!pinned) return undefined;
  return (
    env.RDP_TEST_CERT_SHA256 ??
    (await probeRdpCertificate(env.RDP_TEST_HOST!, Number(env.RDP_TEST_PORT ?? 3389))).sha256
  );
}

describe('RDP through a real guacd', () => {
  let w: RdpWorld;
  let vendor: Person;

  beforeAll(async () => {
    if (missing.length) throw new Error(`set ${missing.join(', ')} to run against a real guacd and RDP server`);
    w = await world(await thePin());
    vendor = await w.person('vendor');
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('shows the desktop, takes input, lets a supervisor watch read-only, records and seals', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId, { width: 1024, height: 768, dpi: 96 });
    expect(t.status).toBe(201);
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    // Answer guacd's frames as a browser does, or it throttles.
    c.ws.on('message', (data: Buffer) => {
      for (const m of data.toString('utf8').matchAll(/4\.sync,(\d+)\.(\d+)[,;]/g)) c.send('sync', m[2]!);
    });
    const sessionId = String((await c.message('ready', 20_000)).sessionId);
    // A desktop: the screen sized, and pixels drawn (img/blob or a fill), and no error.
    await c.instruction('size', (i) => i.args[0] === '0' && Number(i.args[1]) > 0, 30_000);
    await c.instruction(
      'sync',
      () => c.instructions.some((i) => i.opcode === 'img' || i.opcode === 'cfill' || i.opcode === 'copy'),
      30_000,
    );
    expect(c.instructions.find((i) => i.opcode === 'error')).toBeUndefined();
    c.send('mouse', 100, 100, 0);
    c.send('key', 0xffe1, 1);
    c.send('key', 0xffe1, 0);

    const supervisor = await w.person('supervisor', { stepUp: false });
    const mint = await w.post(supervisor, `/api/sessions/${sessionId}/rdp-watch-token`, {
      width: 1024,
      height: 768,
      dpi: 96,
    });
    expect(mint.status).toBe(201);
    const v = w.open(supervisor, `/ws/rdp?token=${String(mint.json.token)}`);
    v.ws.on('message', (data: Buffer) => {
      for (const m of data.toString('utf8').matchAll(/4\.sync,(\d+)\.(\d+)[,;]/g)) v.send('sync', m[2]!);
    });
    await v.message('ready', 20_000);
    await v.instruction('size', (i) => i.args[0] === '0' && Number(i.args[1]) > 0, 30_000);

    c.ws.close();
    await v.closed;
    const sealed = await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId, 30_000);
    const record = w.gw.store.data.sessions.find((s) => s.id === sessionId)!;
    const file = join(w.gw.storageDir, record.recording!.path);
    const bytes = await readFile(file);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sealed.data?.sha256);
    expect(bytes.length).toBeGreaterThan(100);
    // guacd's recording is Guacamole instructions, starting with the screen's size.
    expect(bytes.toString('utf8', 0, 40)).toMatch(/^\d+\.[a-z]+,/);
    expect((await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
      'client_closed',
    );
  }, 120_000);
});

describe.runIf(pinned)('RDP through a real guacd, pinned to another certificate', () => {
  let w: RdpWorld;
  let vendor: Person;

  beforeAll(async () => {
    if (missing.length) throw new Error(`set ${missing.join(', ')} to run against a real guacd and RDP server`);
    const right = (await thePin())!;
    // The same pin with its last byte changed: guacd must refuse the server's certificate.
    const wrong = `${right.slice(0, -2)}${right.endsWith('00') ? '01' : '00'}`;
    w = await world(wrong);
    vendor = await w.person('vendor');
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it("guacd refuses the server's certificate: no desktop; the page and the trail say the pin does not match, with guacd's words", async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId, { width: 1024, height: 768, dpi: 96 });
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    const sessionId = String(t.json.sessionId);
    const told = await c.message('ended', 30_000);
    expect(told.reason).toBe('error');
    expect(String(told.message)).toMatch(/^the workstation's certificate does not match the pinned one/);
    await c.closed;
    expect(c.instructions.some((i) => i.opcode === 'img')).toBe(false);
    const ended = await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId, 30_000);
    // guacd 1.6 sends "SSL/TLS connection failed (untrusted/self-signed certificate?)" with status 519.
    expect(ended.data).toMatchObject({ reason: 'error', message: told.message, guacdError: { status: 0x0207 } });
    expect(String((ended.data?.guacdError as { message: string }).message)).toMatch(/^SSL\/TLS connection failed/);
  }, 120_000);
});
