// Watching an RDP session across nodes against a REAL guacd and RDP server: two `gatehouse serve` nodes on one
// PostgreSQL, each with its own guacd; the vendor's desktop on gw-a, a supervisor's read-only view on gw-b, relayed
// from the join gw-a makes on its guacd. The same environment as rdp.test.ts, plus:
//   GUACD_B_PORT: gw-b's guacd on GUACD_HOST (default GUACD_PORT, the same guacd; a second one proves gw-b never
//   joins on its own). guacd must be able to write to the temp folder (the nodes' shared storage).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeRdpCertificate } from '../../gateway/rdp/cert-probe.js';
import type { Browser } from '../helpers/web-login.js';
import { type ClusterWorld, type Node, RDP_TARGET, startClusterWorld } from '../integration/cluster-fixture.js';
import { type GuacConn, openGuac } from '../integration/rdp-fixture.js';

const env = process.env;
const missing = ['GUACD_HOST', 'RDP_TEST_HOST', 'RDP_TEST_USER', 'RDP_TEST_PASSWORD'].filter((k) => !env[k]);
const SIZE = { width: 1024, height: 768, dpi: 96 };

/** A page's Guacamole client that answers guacd's frames as a browser does (or guacd throttles). */
function page(node: Node, path: string, b: Browser): GuacConn {
  const c = openGuac(node.url, path, b.jar.header(new URL('/ws/', node.url)), node.url);
  c.ws.on('message', (data: Buffer) => {
    for (const m of data.toString('utf8').matchAll(/4\.sync,(\d+)\.(\d+)[,;]/g)) c.send('sync', m[2]!);
  });
  return c;
}

const drawn = (c: GuacConn) =>
  c
    .instruction('size', (i) => i.args[0] === '0' && Number(i.args[1]) > 0, 30_000)
    .then(() =>
      c.instruction(
        'sync',
        () => c.instructions.some((i) => i.opcode === 'img' || i.opcode === 'cfill' || i.opcode === 'copy'),
        30_000,
      ),
    );

describe('an RDP session on gw-a watched from gw-b, through real guacds', () => {
  let w: ClusterWorld;
  let supervisor: Browser;

  beforeAll(async () => {
    if (missing.length) throw new Error(`set ${missing.join(', ')} to run against a real guacd and RDP server`);
    const port = Number(env.RDP_TEST_PORT ?? 3389);
    const pin =
      env.RDP_TEST_IGNORE_CERT === 'true'
        ? undefined
        : (env.RDP_TEST_CERT_SHA256 ?? (await probeRdpCertificate(env.RDP_TEST_HOST!, port)).sha256);
    const guacdPort = Number(env.GUACD_PORT ?? 4822);
    w = await startClusterWorld({
      rdp: {
        guacd: {
          'gw-a': { host: env.GUACD_HOST!, port: guacdPort },
          'gw-b': { host: env.GUACD_HOST!, port: Number(env.GUACD_B_PORT ?? guacdPort) },
        },
        target: {
          host: env.RDP_TEST_HOST,
          port,
          username: env.RDP_TEST_USER,
          password: env.RDP_TEST_PASSWORD,
          security: env.RDP_TEST_SECURITY ?? 'any',
          ...(pin ? { certSha256: pin } : { ignoreCert: true }),
        },
      },
    });
    supervisor = await w.signIn(w.b, 'supervisor');
    await w.vendor.post('/api/me/step-up', { code: await w.sshHarness.nextCode() });
  }, 180_000);
  afterAll(async () => {
    await w?.close();
  }, 60_000);

  it('the supervisor on gw-b sees the desktop read-only until the vendor leaves; audited with the holder', async () => {
    const t = await w.vendor.post(`/api/grants/${w.rdpGrantId}/rdp-token`, SIZE);
    const c = page(w.a, `/ws/rdp?token=${String(t.token)}`, w.vendor.browser);
    const sessionId = String((await c.message('ready', 20_000)).sessionId);
    await drawn(c);
    expect(c.instructions.find((i) => i.opcode === 'error')).toBeUndefined();

    const me = (await (await supervisor.fetch('/api/me')).json()) as { csrfToken: string };
    const mint = await supervisor.fetch(`/api/sessions/${sessionId}/rdp-watch-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: JSON.stringify(SIZE),
    });
    expect(mint.status).toBe(201);
    const { token } = (await mint.json()) as { token: string };
    const v = page(w.b, `/ws/rdp?token=${token}`, supervisor);
    expect(await v.message('ready', 20_000)).toMatchObject({ readOnly: true, sessionId, targetId: RDP_TARGET });
    await drawn(v);
    // Input from the viewer is dropped on gw-b and on gw-a; guacd would drop it too (read-only): the view goes on.
    v.send('key', 0xffe1, 1);
    v.send('mouse', 10, 10, 1);
    c.send('mouse', 200, 200, 0);
    expect(v.instructions.find((i) => i.opcode === 'error')).toBeUndefined();
    const monitored = await w.waitAudit('session.monitored', (a) => a.subject?.sessionId === sessionId);
    expect(monitored.data).toEqual({ via: 'rdp', readOnly: true, node: 'gw-a' });

    c.ws.close();
    expect(String((await v.message('ended', 30_000)).message)).toBe('the session ended (client_closed)');
    expect((await v.closed).code).toBe(1000);
    const sealed = await w.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId, 30_000);
    expect(sealed.data?.sha256).toMatch(/^[0-9a-f]{64}$/);
  }, 120_000);
});
