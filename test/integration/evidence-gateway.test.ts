// Evidence packs from a real gateway run (OpenSSH target, a vendor shell with hostile commands): the API with its
// role and step-up checks, then the `gatehouse` CLI (export while running and after stop, verify, recordings verify).
import { createHash } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configFileText } from '../helpers/config.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openShell, vendorClient } from '../helpers/ssh-vendor.js';
import { oathCode } from '../helpers/totp.js';
import { Browser, type Me, signIn } from '../helpers/web-login.js';
import { readZip, writeZip } from '../helpers/zip.js';

const HOSTILE = 'PLC <script>alert(1)</script> station';
const PROMPT = /[#$] $/;
let h: SshGateway;
let storage: string;
let from: string;
let to: string;
let auditor: { browser: Browser; me: Me };
let auditorSecret: string;
let apiPack: string;
let recording: string;

const get = (b: Browser, query: string) => b.fetch(`/api/evidence${query}`);
const post = (who: { browser: Browser; me: Me }, path: string, body: unknown) =>
  who.browser.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': who.me.csrfToken },
    body: JSON.stringify(body),
  });
/** The auditor's step-up with a code from the next time step (the gateway's clock moves on with it). */
async function stepUpAuditor(): Promise<void> {
  const res = await post(auditor, '/api/me/step-up', { code: oathCode(auditorSecret, h.clock.nextStep()) });
  expect(res.status, await res.clone().text()).toBe(200);
}

beforeAll(async () => {
  h = await startSshGateway({
    target: {
      name: HOSTILE,
      commands: { mode: 'alert', rules: [{ match: 'secret', action: 'alert', reason: 'touches <secrets>' }] },
    },
  });
  storage = h.gw.storageDir;
  await h.grant();
  from = new Date(Date.now() - 3600_000).toISOString();
  const c = await vendorClient(h, TARGET);
  try {
    const sh = await openShell(c);
    const out = collect(sh);
    await out.until(PROMPT);
    sh.write('=HYPERLINK("http://evil.example","x")\r');
    await h.waitAudit('command.executed', (a) => String(a.data?.text).startsWith('=HYPERLINK'));
    sh.write('cat /etc/secret-notes\r');
    await h.waitAudit('command.alerted', (a) => a.data?.text === 'cat /etc/secret-notes');
    sh.write('exit\r');
  } finally {
    c.end();
  }
  const sealed = await h.waitAudit('recording.sealed');
  expect(sealed.data?.sha256).toMatch(/^[0-9a-f]{64}$/);
  await h.waitAudit('session.ended');
  recording = join(storage, h.gw.store.data.sessions[0]!.recording!.path);
  to = new Date(h.clock.now() + 3600_000).toISOString();
  auditor = await signIn(h, 'auditor');
  const enrolled = await post(auditor, '/api/me/totp/enroll', {});
  auditorSecret = ((await enrolled.json()) as { secret: string }).secret;
  expect((await post(auditor, '/api/me/totp/confirm', { code: oathCode(auditorSecret, h.clock.now()) })).status).toBe(
    200,
  );
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('GET /api/evidence', () => {
  it('is for auditors and admins only: signed out 401, vendor and supervisor 403', async () => {
    const q = `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    expect((await get(new Browser(h.url), q)).status).toBe(401);
    const vendor = await get(h.vendor.browser, q);
    expect(vendor.status).toBe(403);
    expect(await vendor.json()).toMatchObject({ error: { code: 'forbidden' } });
    const sup = await signIn(h, 'supervisor');
    expect((await get(sup.browser, q)).status).toBe(403);
    // The refusals are evidence too (audited once, centrally).
    const denied = (await h.audit()).filter(
      (a) => a.type === 'access.denied' && (a.data as { path?: string })?.path === '/api/evidence',
    );
    expect(denied.length).toBeGreaterThanOrEqual(3);
  });

  it('with recordings needs a fresh step-up (none or an aged one refused before any pack is built); without, as the reference has it, not', async () => {
    const period = `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    const q = `${period}&recordings=true`;
    const exports = async () => (await h.audit()).filter((a) => a.type === 'evidence.exported').length;
    const refusals = async () =>
      (await h.audit()).filter(
        (a) => a.type === 'access.denied' && a.data?.code === 'stepup_required' && a.data?.path === '/api/evidence',
      );
    const before = await exports();
    const refused = async (query: string) => {
      const res = await get(auditor.browser, query);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('content-disposition')).toBeNull();
      expect(res.headers.get('x-evidence-sha256')).toBeNull();
      expect(await res.json()).toMatchObject({ error: { code: 'stepup_required' } });
    };
    const zip = async (query: string) => {
      const res = await get(auditor.browser, query);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/zip');
      return Buffer.from(await res.arrayBuffer());
    };

    // Enrolled, signed in, never stepped up: the pack without recordings comes as the reference promises every auditor.
    await zip(period);
    expect(await exports()).toBe(before + 1);
    // With recordings: refused, and the refusal is audited once (centrally, written before the answer), with who.
    await refused(q);
    const first = await refusals();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({
      actor: { kind: 'user', id: auditor.me.id },
      data: { status: 403, method: 'GET' },
    });
    expect(await exports()).toBe(before + 1);

    await stepUpAuditor();
    const file = join(h.dir.path, 'stepped-up-pack.zip');
    await writeFile(file, await zip(q));
    const pack = await readZip(file);
    expect([...pack.keys()].some((k) => k.startsWith('recordings/'))).toBe(true);
    expect(await exports()).toBe(before + 2);

    // The same step-up, one second older than stepUp.maxAgeMinutes: refused again, nothing exported.
    h.clock.offset += h.gw.config.stepUp.maxAgeMinutes * 60_000 + 1000;
    await refused(q);
    expect(await exports()).toBe(before + 2);
    expect((await refusals()).length).toBe(2);

    // Fresh again for the tests below.
    await stepUpAuditor();
  });

  it.each([
    ['?from=yesterday&to=2026-11-24', 'invalid_from'],
    ['?from=2026-11-24&to=2026-11-23', 'invalid_period'],
    ['?from=2020-01-01&to=2026-01-01', 'period_too_long'],
    ['?from=2026-11-23T10:00&to=2026-11-24', 'invalid_from'],
    ['?from=2026-11-23&to=2026-11-24&path=../../etc', 'unknown_parameter'],
    ['?from=2026-11-23&from=2026-11-22&to=2026-11-24', 'invalid_query'],
    ['?to=2026-11-24', 'invalid_query'],
    ['?from=2026-11-23&to=2026-11-24&recordings=yes', 'invalid_query'],
  ])('answers 400 to bad dates and parameters: %s', async (query, code) => {
    const res = await get(auditor.browser, query);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code } });
  });

  it('streams a signed pack to an auditor as a download, audited with who and the period', async () => {
    const res = await get(
      auditor.browser,
      `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&recordings=true`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="gatehouse-evidence-[0-9TZ]+-[0-9TZ]+\.zip"$/,
    );
    const body = Buffer.from(await res.arrayBuffer());
    const sha256 = createHash('sha256').update(body).digest('hex');
    expect(res.headers.get('x-evidence-sha256')).toBe(sha256);
    apiPack = join(h.dir.path, 'api-pack.zip');
    await writeFile(apiPack, body);

    const rec = (await h.audit()).filter((a) => a.type === 'evidence.exported').at(-1) as unknown as {
      actor: Record<string, unknown>;
      data: Record<string, unknown>;
    };
    expect(rec.actor).toMatchObject({ kind: 'user', id: auditor.me.id });
    expect(rec.data).toMatchObject({ via: 'api', from, to, withRecordings: true, sha256, bytes: body.length });

    const entries = await readZip(apiPack);
    const manifest = JSON.parse(entries.get('manifest.json')!.toString());
    expect(manifest).toMatchObject({
      site: { name: 'Test plant' },
      exportedBy: { id: auditor.me.id },
      counts: { sessions: 1, recordings: 1 },
    });
    // The API seals the period with a checkpoint first, so the pack ends on a signature.
    expect(manifest.audit.checkpoint).not.toBeNull();
    expect(entries.get('commands.csv')!.toString()).toContain(`'=HYPERLINK(""http://evil.example"",""x"")`);
    expect(entries.get('alerts.csv')!.toString()).toContain('cat /etc/secret-notes');
    const html = entries.get('report.html')!.toString();
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('PLC &lt;script&gt;alert(1)&lt;/script&gt; station');
    expect([...entries.keys()].some((k) => k.startsWith('recordings/') && k.endsWith('.cast'))).toBe(true);
  });

  it('the downloaded pack verifies offline with the CLI, pinned to the gateway key', async () => {
    const r = await runCli(['evidence', 'verify', apiPack, '--key', join(storage, 'keys', 'audit-ed25519.pub.pem')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/evidence pack intact/);
    expect(r.stdout).toMatch(/the pinned key given with --key/);
  });
});

describe('gatehouse evidence export / verify, recordings verify (CLI)', () => {
  it('exports read-only beside the running gateway, and says the export is not in its audit log', async () => {
    const out = join(h.dir.path, 'running.zip');
    const r = await runCli(['evidence', 'export', '--dir', storage, '--from', from, '--to', to, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/not recorded in the audit log: the gateway is running/);
    expect((await runCli(['evidence', 'verify', out])).code).toBe(0);
  });

  it('after the gateway stops: export with --config is audited, verifies, and a tampered copy does not', async () => {
    await h.gw.stop('test');
    const configPath = join(h.dir.path, 'gatehouse.yaml');
    await writeFile(configPath, configFileText(h.gw.config));
    const out = join(h.dir.path, 'stopped.zip');
    const exportTo = (...extra: string[]) =>
      runCli(['evidence', 'export', '--config', configPath, '--from', from, '--to', to, '--out', out, ...extra]);
    const r = await exportTo('--with-recordings');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*stopped\.zip: \d+ files, \d+ bytes, sha256 [0-9a-f]{64}/);
    expect(r.stdout).toMatch(/recorded in the audit log as evidence\.exported/);
    const log = (await readFile(join(storage, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.filter((l) => l.type === 'evidence.exported').at(-1)).toMatchObject({
      actor: { kind: 'system', id: 'cli' },
      data: { via: 'cli', withRecordings: true },
    });
    expect((await runCli(['audit', 'verify', '--dir', storage])).code).toBe(0);

    const ok = await runCli(['evidence', 'verify', out]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/audit chain continuous: \d+ records in the period/);

    const again = await exportTo();
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);

    const entries = await readZip(out);
    const cast = [...entries.keys()].find((k) => k.endsWith('.cast'))!;
    entries.set(cast, Buffer.concat([entries.get(cast)!, Buffer.from('[99,"o","forged"]\n')]));
    const bad = join(h.dir.path, 'tampered.zip');
    await writeZip(bad, entries);
    const broken = await runCli(['evidence', 'verify', bad]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(
      new RegExp(`evidence pack BROKEN: ${cast.replaceAll('.', '\\.')} is \\d+ bytes, the manifest says \\d+`),
    );
  });

  it('recordings verify passes, then names a recording altered on disk', async () => {
    const ok = await runCli(['recordings', 'verify', '--dir', storage]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/recordings intact: 1 sealed recordings match their SHA-256/);
    await appendFile(recording, '[99,"o","forged"]\n');
    const bad = await runCli(['recordings', 'verify', '--dir', storage]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ALTERED ses_\S+ sessions\/\d{4}\/\d{2}\/\d{2}\/ses_\S+\.cast: SHA-256 [0-9a-f]{64}/m);
  });
});
