// Evidence packs from a real storage folder (Store + AuditLog): export, verify, and every way of tampering with a pack.
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../gateway/audit/signing.js';
import { AuditLog, verifyAuditFile } from '../../gateway/audit-log.js';
import { runEvidenceExport, runEvidenceVerify } from '../../gateway/cli/evidence.js';
import type { CliIo } from '../../gateway/cli/io.js';
import { runRecordingsVerify } from '../../gateway/cli/recordings-verify.js';
import { ManualClock } from '../../gateway/clock.js';
import { CommandLog } from '../../gateway/command-log.js';
import type { Manifest } from '../../gateway/evidence/manifest.js';
import { type PackInput, writePack } from '../../gateway/evidence/pack.js';
import { writePackFile } from '../../gateway/evidence/pack-file.js';
import { parsePeriod } from '../../gateway/evidence/period.js';
import { verifyPack } from '../../gateway/evidence/verify.js';
import { Store } from '../../gateway/store.js';
import { parseCsv } from '../helpers/csv.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { readZip, writeZip } from '../helpers/zip.js';
import {
  buildEvidenceStorage,
  type EvidenceFixture,
  FORMULA_COMMAND,
  FORMULA_NAME,
  HOSTILE_TARGET,
  logPath,
  MARKUP_COMMAND,
  PERIOD,
  SESSION_ID,
} from './evidence-fixture.js';

let tmp: TempDir;
let fx: EvidenceFixture;
let pack: string;
let manifest: Manifest;

const period = parsePeriod(PERIOD.from, PERIOD.to);
const input = (f: EvidenceFixture, o: Partial<PackInput> = {}): Promise<PackInput> =>
  Store.readSnapshot(f.dir).then(async (db) => ({
    storageDir: f.dir,
    db,
    commands: await CommandLog.read(f.dir, db),
    period,
    site: { name: f.config.site.name, timezone: f.config.site.timezone },
    targets: f.config.targets,
    withRecordings: false,
    clock: new ManualClock('2026-11-25T12:00:00.000Z'),
    exportedBy: { kind: 'system', id: 'cli' },
    ...o,
  }));
let n = 0;
const file = (name = 'pack') => join(tmp.path, `${name}-${++n}.zip`);
const newStorage = async () => buildEvidenceStorage(join(tmp.path, `storage-${++n}`));

function capture(): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

beforeAll(async () => {
  tmp = await tempDir('gh-evidence-');
  fx = await newStorage();
  pack = file();
  manifest = (await writePackFile(await input(fx, { withRecordings: true }), pack)).manifest;
});
afterAll(async () => {
  await tmp?.remove();
});

/** Copies the pack with `edit` applied to its entries; `resign` re-signs the manifest with the gateway's own key. */
async function tampered(
  edit: (e: Map<string, Buffer>) => void,
  o: { resign?: boolean; from?: string } = {},
): Promise<string> {
  const entries = await readZip(o.from ?? pack);
  edit(entries);
  if (o.resign) {
    const m = JSON.parse(entries.get('manifest.json')!.toString()) as Manifest;
    for (const f of m.files) {
      const buf = entries.get(f.path);
      if (!buf) continue;
      f.bytes = buf.length;
      f.sha256 = createHash('sha256').update(buf).digest('hex');
    }
    const bytes = Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
    const key = createPrivateKey(await readFile(join(fx.dir, 'keys', 'audit-ed25519.pem'), 'utf8'));
    entries.set('manifest.json', bytes);
    entries.set('manifest.sig', sign(null, bytes, key));
  }
  const out = file('tampered');
  await writeZip(out, entries);
  return out;
}
const problemOf = async (path: string, pem?: string) => {
  const v = await verifyPack(path, pem === undefined ? {} : { publicKeyPem: pem });
  expect(v.ok, 'the pack should fail verification').toBe(false);
  return v.ok ? '' : v.problem;
};
const text = (e: Map<string, Buffer>, name: string) => e.get(name)!.toString('utf8');

describe('export', () => {
  it('writes a pack that verifies offline, with the period sliced out of the chain', async () => {
    const v = await verifyPack(pack);
    expect(v).toMatchObject({ ok: true, summary: { keyId: manifest.key.keyId, pinned: false } });

    const log = (await readFile(logPath(fx.dir), 'utf8')).split('\n').filter(Boolean);
    const records = log.map((l) => JSON.parse(l) as { seq: number; at: string; type: string; hash: string });
    const inside = records.filter((r) => r.at >= '2026-11-23' && r.at < '2026-11-24');
    const first = inside[0]!;
    expect(manifest.audit).toMatchObject({
      records: inside.length,
      firstSeq: first.seq,
      periodLastSeq: inside.at(-1)!.seq,
      prev: records[first.seq - 2]!.hash,
      head: { seq: records.at(-1)!.seq, hash: records.at(-1)!.hash },
    });
    // The file ends on a signed checkpoint covering the period's last record.
    expect(manifest.audit.checkpoint).not.toBeNull();
    expect(manifest.audit.checkpoint!.upToSeq).toBeGreaterThanOrEqual(inside.at(-1)!.seq);
    expect(manifest.audit.lastSeq).toBe(manifest.audit.checkpoint!.seq);

    const entries = await readZip(pack);
    const lines = text(entries, 'audit.jsonl').split('\n').filter(Boolean);
    // Verbatim lines of the log, contiguous, nothing from the day before.
    expect(lines).toEqual(log.slice(first.seq - 1, manifest.audit.lastSeq!));
    expect(lines.some((l) => l.includes('"n":0'))).toBe(false);
    expect(manifest.counts).toMatchObject({
      requests: 1,
      sessions: 1,
      commands: 3,
      alerts: 4,
      recordings: 1,
      fileTransfers: 1,
      clipboardTransfers: 1,
    });
    expect(manifest).toMatchObject({ site: { name: 'Test plant' }, inventory: 'config', withRecordings: true });
    expect([...entries.keys()].sort()).toEqual(
      [
        'alerts.csv',
        'audit.jsonl',
        'commands.csv',
        'manifest.json',
        'manifest.sig',
        'public-key.pem',
        'report.html',
        'requests.csv',
        'sessions.csv',
        'targets.csv',
        `recordings/2026/11/23/${SESSION_ID}.cast`,
      ].sort(),
    );
    // The key is the gateway's own audit key, the one its checkpoints carry.
    expect(text(entries, 'public-key.pem')).toBe(await readFile(join(fx.dir, 'keys', 'audit-ed25519.pub.pem'), 'utf8'));
    expect(entries.get(`recordings/2026/11/23/${SESSION_ID}.cast`)).toEqual(await readFile(fx.recordingPath));
  });

  it('neutralises spreadsheet formulas in every CSV and keeps quoting exact', async () => {
    const entries = await readZip(pack);
    const csv = (name: string) => parseCsv(text(entries, name).replace(/^\ufeff/, ''));
    const commands = csv('commands.csv');
    expect(commands[0]).toContain('command');
    const cmdCol = commands[0]!.indexOf('command');
    expect(commands.slice(1).map((r) => r[cmdCol])).toEqual([
      'ls -la /opt/plc',
      `'${FORMULA_COMMAND}`,
      MARKUP_COMMAND.replace('\u001b', '\\x1b').replace('\u0007', '\\x07'),
    ]);
    const requests = csv('requests.csv');
    const r = requests[1]!;
    expect(r[requests[0]!.indexOf('user_name')]).toBe(`'${FORMULA_NAME}`);
    expect(r[requests[0]!.indexOf('org')]).toBe('Acme, "Automation" Inc.');
    expect(r[requests[0]!.indexOf('purpose')]).toBe('Update PLC firmware, see ticket\n"=1+1"');
    expect(r[requests[0]!.indexOf('ticket')]).toBe("'@CHG-42");
    // No cell anywhere starts with a formula character.
    for (const name of ['requests.csv', 'sessions.csv', 'commands.csv', 'alerts.csv', 'targets.csv'])
      for (const row of csv(name)) for (const cell of row) expect(cell, `${name}: ${cell}`).not.toMatch(/^[=+\-@\t\r]/);

    const alerts = csv('alerts.csv');
    const type = alerts[0]!.indexOf('type');
    expect(alerts.slice(1).map((a) => a[type])).toEqual([
      'command.alerted',
      'command.blocked',
      'grant.revoked',
      'session.ended',
    ]);
    const targets = csv('targets.csv');
    expect(targets[1]!.slice(0, 4)).toEqual(['eng-ws-01', HOSTILE_TARGET, 'Cell 2 / Level 2 <b>', '3']);
    const sessions = csv('sessions.csv');
    expect(sessions[1]![sessions[0]!.indexOf('recording_in_pack')]).toBe(`recordings/2026/11/23/${SESSION_ID}.cast`);
  });

  it('report.html is self-contained and escapes every hostile value', async () => {
    const html = text(await readZip(pack), 'report.html');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/(?:src|href)=["']?https?:/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    // A clipboard content that crossed an RDP session is listed with the files, by mimetype (escaped), never its text.
    expect(html).toContain('(clipboard, text/&lt;i&gt;plain&lt;/i&gt;)');
    expect(html).toContain('cd'.repeat(32));
    expect(html).toContain('\\x1b]52;c;ZXZpbA==\\x07');
    expect(html).not.toContain('\u001b');
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    for (const area of [
      'Remote and vendor access control',
      'Event logging and review',
      'Incident handling',
      'Change control',
      'Asset inventory',
    ])
      expect(html).toContain(area);
  });

  it('a period without records still makes a verifiable pack', async () => {
    const out = file();
    const r = await writePackFile(await input(fx, { period: parsePeriod('2030-01-01', '2030-01-02') }), out);
    expect(r.manifest.audit).toMatchObject({ records: 0, firstSeq: null, checkpoint: null });
    expect((await verifyPack(out)).ok).toBe(true);
  });

  it('refuses to sign over a broken audit chain', async () => {
    const f = await newStorage();
    const lines = (await readFile(logPath(f.dir), 'utf8')).split('\n');
    const i = lines.findIndex((l) => l.includes('command.executed'));
    lines[i] = lines[i]!.replace('ls -la', 'ls -lA');
    await writeFile(logPath(f.dir), lines.join('\n'));
    const out = file();
    await expect(writePackFile(await input(f), out)).rejects.toMatchObject({
      code: 'audit_log_broken',
      message: expect.stringMatching(/hash mismatch|edited/),
    });
    expect(existsSync(out)).toBe(false);
    expect((await readdir(tmp.path)).filter((x) => x.endsWith('.partial'))).toEqual([]);
    // The CLI on that free storage folder: the audit log refuses to open, and nothing is written.
    const c = capture();
    expect(
      await runEvidenceExport(['--dir', f.dir, '--from', PERIOD.from, '--to', PERIOD.to, '--out', out], c.io),
    ).toBe(1);
    expect(c.err.join('\n')).toMatch(/audit log broken at record seq \d+ .*No pack is signed over a broken chain/);
    expect(existsSync(out)).toBe(false);
  });

  it('never overwrites an existing file', async () => {
    await expect(writePackFile(await input(fx), pack)).rejects.toMatchObject({ code: 'pack_exists' });
    expect((await verifyPack(pack)).ok).toBe(true);
  });

  it('streams: the zip is produced while it is written out, and its SHA-256 is what was delivered', async () => {
    const { PassThrough } = await import('node:stream');
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const r = await writePack(await input(fx), sink);
    const all = Buffer.concat(chunks);
    expect(chunks.length).toBeGreaterThan(1);
    expect(r.bytes).toBe(all.length);
    expect(r.sha256).toBe(createHash('sha256').update(all).digest('hex'));
  });
});

describe('verify catches tampering', () => {
  it('a modified file', async () => {
    const p = await tampered((e) =>
      e.set('commands.csv', Buffer.from(text(e, 'commands.csv').replace('ls -la', 'ls -lA'))),
    );
    expect(await problemOf(p)).toMatch(/^commands\.csv was modified: its SHA-256 is [0-9a-f]{64}, the manifest says/);
    const resized = await tampered((e) =>
      e.set('report.html', Buffer.concat([e.get('report.html')!, Buffer.from(' ')])),
    );
    expect(await problemOf(resized)).toMatch(
      /^report\.html is \d+ bytes, the manifest says \d+ \(the file was modified\)/,
    );
  });

  it('a missing file', async () => {
    const p = await tampered((e) => e.delete('targets.csv'));
    expect(await problemOf(p)).toBe('targets.csv is listed in the manifest but missing from the pack');
    const noSig = await tampered((e) => e.delete('manifest.sig'));
    expect(await problemOf(noSig)).toMatch(/^manifest\.sig is missing/);
  });

  it('an added file', async () => {
    const p = await tampered((e) => e.set('recordings/2026/11/23/ses_planted0001.cast', Buffer.from('{}\n')));
    expect(await problemOf(p)).toBe(
      'recordings/2026/11/23/ses_planted0001.cast is in the pack but not in the manifest (a file was added)',
    );
  });

  it('a modified manifest', async () => {
    const p = await tampered((e) =>
      e.set('manifest.json', Buffer.from(text(e, 'manifest.json').replace('"commands": 3', '"commands": 2'))),
    );
    expect(await problemOf(p)).toMatch(
      /^manifest\.sig does not verify over manifest\.json with key [0-9a-f]{16}: the manifest was modified/,
    );
  });

  it('a wrong signature, and a pack re-signed with another key', async () => {
    const other = generateKeyPairSync('ed25519');
    const otherPem = other.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const wrongSig = await tampered((e) =>
      e.set('manifest.sig', sign(null, e.get('manifest.json')!, other.privateKey)),
    );
    expect(await problemOf(wrongSig)).toMatch(/manifest\.sig does not verify/);

    // A forger swaps in their own key and re-signs: the pack is consistent, but the log's checkpoints
    // were signed by the gateway's key, so the audit chain gives it away — and a pinned key refuses it at once.
    const forged = await tampered((e) => {
      const m = JSON.parse(text(e, 'manifest.json')) as Manifest;
      const pem = Buffer.from(otherPem);
      e.set('public-key.pem', pem);
      const f = m.files.find((x) => x.path === 'public-key.pem')!;
      f.bytes = pem.length;
      f.sha256 = createHash('sha256').update(pem).digest('hex');
      m.key.keyId = keyIdOf(other.publicKey);
      const bytes = Buffer.from(JSON.stringify(m, null, 2));
      e.set('manifest.json', bytes);
      e.set('manifest.sig', sign(null, bytes, other.privateKey));
    });
    expect(await problemOf(forged)).toMatch(
      /^audit\.jsonl line \d+ \(record seq \d+\): checkpoint signed by key [0-9a-f]{16}, not by the gateway's key/,
    );
    const gatewayPem = await readFile(join(fx.dir, 'keys', 'audit-ed25519.pub.pem'), 'utf8');
    expect(await problemOf(forged, gatewayPem)).toBe(
      `the pack is signed by key ${keyIdOf(other.publicKey)}, not by the pinned key ${manifest.key.keyId}`,
    );
    // The genuine pack against the pinned key, and against a wrong pinned key.
    expect(await verifyPack(pack, { publicKeyPem: gatewayPem })).toMatchObject({ ok: true, summary: { pinned: true } });
    expect(await problemOf(pack, otherPem)).toMatch(/not by the pinned key|does not verify/);
  });

  it('a cut or edited audit.jsonl line: by hash, and in the chain even when the manifest is re-signed', async () => {
    const drop = (e: Map<string, Buffer>) => {
      const lines = text(e, 'audit.jsonl').split('\n');
      lines.splice(3, 1);
      e.set('audit.jsonl', Buffer.from(lines.join('\n')));
    };
    const edit = (e: Map<string, Buffer>) =>
      e.set('audit.jsonl', Buffer.from(text(e, 'audit.jsonl').replace('ls -la /opt/plc', 'ls -la /opt/plx')));
    const truncate = (e: Map<string, Buffer>) => {
      const lines = text(e, 'audit.jsonl').split('\n').filter(Boolean);
      e.set('audit.jsonl', Buffer.from(`${lines.slice(0, -2).join('\n')}\n`));
    };
    expect(await problemOf(await tampered(drop))).toMatch(/^audit\.jsonl (was modified|is \d+ bytes)/);
    // Same size: the chain check, which runs while the bytes stream past, names the record first.
    expect(await problemOf(await tampered(edit))).toMatch(
      /^audit\.jsonl line \d+ \(record seq \d+\): hash mismatch \(the record was altered\)/,
    );

    // With the gateway's key in hand (an insider), the chain itself still gives the edit away.
    const seq = manifest.audit.firstSeq!;
    expect(await problemOf(await tampered(drop, { resign: true }))).toBe(
      `audit.jsonl line 4 (record seq ${seq + 3}): expected seq ${seq + 3}, found seq ${seq + 4} (a record was deleted or moved)`,
    );
    expect(await problemOf(await tampered(edit, { resign: true }))).toMatch(
      /^audit\.jsonl line \d+ \(record seq \d+\): (hash mismatch|not in canonical form)/,
    );
    expect(await problemOf(await tampered(truncate, { resign: true }))).toMatch(
      /^audit\.jsonl ends at seq \d+, the manifest says \d+ \(records were cut off\)/,
    );
  });

  it('a recording altered on disk after sealing is carried, but flagged, and the pack does not verify', async () => {
    const f = await newStorage();
    await appendFile(f.recordingPath, '[9.9,"o","injected"]\n');
    const out = file();
    const r = await writePackFile(await input(f, { withRecordings: true }), out);
    expect(r.manifest.notes.join('\n')).toMatch(/does NOT match the SHA-256 sealed/);
    expect(await problemOf(out)).toMatch(
      new RegExp(
        `^recordings/2026/11/23/${SESSION_ID}\\.cast does not match the SHA-256 sealed when session ${SESSION_ID} ended`,
      ),
    );
  });

  it('not a zip at all', async () => {
    const p = file();
    await writeFile(p, 'PK\u0003\u0004 nothing else');
    expect(await problemOf(p)).toMatch(/^not a readable zip file/);
  });
});

describe('CLI, in process', () => {
  it('evidence export on a free storage folder is audited; progress goes to stderr; verify passes', async () => {
    const f = await newStorage();
    const out = file();
    const c = capture();
    const code = await runEvidenceExport(
      ['--dir', f.dir, '--from', PERIOD.from, '--to', PERIOD.to, '--out', out, '--with-recordings'],
      c.io,
      { progressEveryMs: 0 },
    );
    expect(code, c.err.join('\n')).toBe(0);
    expect(c.err.some((l) => /^exporting: \d+ files, [\d.]+ MB packed/.test(l))).toBe(true);
    expect(c.out.join('\n')).toMatch(/recorded in the audit log as evidence\.exported \(seq \d+\)/);
    expect(c.err.join('\n')).toMatch(/site, target names and zones are not known/);
    const log = (await readFile(logPath(f.dir), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rec = log.find((r) => r.type === 'evidence.exported');
    expect(rec).toMatchObject({
      actor: { kind: 'system', id: 'cli' },
      data: { via: 'cli', from: '2026-11-23T00:00:00.000Z', to: '2026-11-24T00:00:00.000Z', withRecordings: true },
    });
    expect(rec.data.sha256).toBe(
      createHash('sha256')
        .update(await readFile(out))
        .digest('hex'),
    );
    // The log stays intact after the export's own record and final checkpoint.
    expect(await verifyAuditFile(f.dir)).toMatchObject({ ok: true });

    const v = capture();
    expect(await runEvidenceVerify([out], v.io)).toBe(0);
    expect(v.out.join('\n')).toMatch(/evidence pack intact/);
    const again = capture();
    expect(
      await runEvidenceExport(['--dir', f.dir, '--from', PERIOD.from, '--to', PERIOD.to, '--out', out], again.io),
    ).toBe(1);
    expect(again.err.join('\n')).toMatch(/already exists/);
  });

  it('usage errors exit 2; a bad date names the flag', async () => {
    const c = capture();
    expect(
      await runEvidenceExport(['--dir', fx.dir, '--from', '2026-13-01', '--to', PERIOD.to, '--out', file()], c.io),
    ).toBe(2);
    expect(c.err.join('\n')).toMatch(/from: expected YYYY-MM-DD/);
    expect(await runEvidenceExport(['--dir', fx.dir, '--from', PERIOD.from, '--out', file()], capture().io)).toBe(2);
    expect(await runEvidenceVerify([], capture().io)).toBe(2);
  });

  it('recordings verify names an altered and a missing recording', async () => {
    const f = await newStorage();
    const ok = capture();
    expect(await runRecordingsVerify(['--dir', f.dir], ok.io)).toBe(0);
    expect(ok.out.join('\n')).toBe('recordings intact: 1 sealed recordings match their SHA-256');
    const original = await readFile(f.recordingPath);
    await writeFile(f.recordingPath, Buffer.from(original.toString().replace('$ ', '# ')));
    const altered = capture();
    expect(await runRecordingsVerify(['--dir', f.dir], altered.io)).toBe(1);
    expect(altered.err.join('\n')).toMatch(
      new RegExp(`ALTERED ${SESSION_ID} sessions/2026/11/23/${SESSION_ID}\\.cast: SHA-256 [0-9a-f]{64}`),
    );
    await unlink(f.recordingPath);
    const missing = capture();
    expect(await runRecordingsVerify(['--dir', f.dir], missing.io)).toBe(1);
    expect(missing.err.join('\n')).toMatch(`MISSING ${SESSION_ID}`);
  });
});

describe('a signing key kept outside the storage folder (audit.signingKey)', () => {
  it('signs the pack with that key; without it the export refuses instead of signing with another', async () => {
    const dir = join(tmp.path, `outside-${++n}`);
    const keyFile = join(tmp.path, `outside-key-${n}.pem`);
    const clock = new ManualClock('2026-11-23T10:00:00.000Z');
    const store = await Store.open({ dir });
    const audit = await AuditLog.open({ dir, clock, checkpointIntervalMs: 0, signingKeyFile: keyFile });
    await store.attachAudit(audit);
    expect(audit.signingKeyFile).toBe(keyFile);
    await audit.append({ type: 'auth.login', actor: { kind: 'system', id: 'cli' } });
    await audit.close();
    await store.close();
    expect(existsSync(join(dir, 'keys', 'audit-ed25519.pem'))).toBe(false);

    const f = { dir, config: fx.config } as EvidenceFixture;
    const signed = file('outside');
    await writePackFile(await input(f, { period: parsePeriod('2026-11-23', '2026-11-24'), keyFile }), signed);
    const pem = (await readZip(signed)).get('public-key.pem')!.toString();
    const ownKeyPem = (await import('node:crypto'))
      .createPublicKey(createPrivateKey(await readFile(keyFile, 'utf8')))
      .export({ type: 'spki', format: 'pem' })
      .toString();
    expect(pem).toBe(ownKeyPem);
    expect((await verifyPack(signed, { publicKeyPem: ownKeyPem })).ok).toBe(true);

    await expect(
      writePackFile(await input(f, { period: parsePeriod('2026-11-23', '2026-11-24') }), file('nokey')),
    ).rejects.toMatchObject({
      code: 'signing_key_unreadable',
    });
  });
});
