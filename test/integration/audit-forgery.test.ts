// The forgeries an insider would try on audit.jsonl, each caught by plain verify, a pinned key (--key) or the SIEM's copy (--witness).
import { copyFile, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateSigningKey } from '../../gateway/audit/signing.js';
import { syslogFrame, syslogIdentity } from '../../gateway/audit/syslog-format.js';
import { AuditLog } from '../../gateway/audit-log.js';
import { runAuditVerify } from '../../gateway/cli/audit-verify.js';
import { rechain } from '../helpers/audit-forge.js';
import { ManualClock } from '../../gateway/clock.js';
import { type AuditRecord, sealRecord } from '../../gateway/core/audit.js';
import { lineFields } from '../../gateway/core/audit-line.js';
import { freeForm } from '../helpers/free-form-audit.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-audit-forgery-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const logPath = () => join(dir, 'audit.jsonl');
const headPath = () => join(dir, 'audit.head.json');
const readLines = async () => (await readFile(logPath(), 'utf8')).split('\n').filter(Boolean);
const writeLines = (lines: string[]) => writeFile(logPath(), lines.map((l) => `${l}\n`).join(''));

async function verify(...extra: string[]) {
  const lines: string[] = [];
  const code = await runAuditVerify(['--dir', dir, ...extra], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return { code, output: lines.join('\n') };
}

const command = (i: number) =>
  freeForm({
    type: 'command.executed' as const,
    actor: { kind: 'user' as const, id: 'usr_vendor', name: 'Vera Vendor' },
    subject: { sessionId: 'ses_1', targetId: 'eng-ws-01' },
    data: { text: `ls /opt/plc/${i}`, verdict: 'allowed' },
  });

/** One run of the gateway: open, `appends` records, close (checkpoint every 10). */
async function run(appends: number, opts: { signingKeyFile?: string } = {}): Promise<void> {
  const clock = new ManualClock();
  const log = await AuditLog.open({ dir, clock, checkpointEvery: 10, checkpointIntervalMs: 0, ...opts });
  for (let i = 0; i < appends; i++) {
    clock.advance(1000);
    await log.append(command(i));
  }
  await log.close();
}

/** What the SIEM would hold: each line as a syslog message, the way rsyslog's file output writes it. */
async function witnessOf(lines: string[]): Promise<string> {
  const id = syslogIdentity('gatehouse', 'gw-test', 4242);
  const path = join(dir, 'siem.log');
  const text = lines.map((l) => {
    const b = Buffer.from(l);
    const frame = syslogFrame(l, lineFields(b, 0, b.length)!, id);
    return frame.slice(frame.indexOf(' ') + 1); // rsyslog stores the message, not the octet count
  });
  await writeFile(path, `${text.join('\n')}\n`);
  return path;
}

describe('forgeries of the audit log', () => {
  it('drop records and checkpoints, recompute the hashes, delete the head: verify and start refuse, unless the operator accepts it (audited)', async () => {
    await run(25);
    const forged = rechain(await readLines(), (r) =>
      r.type === 'audit.checkpoint' || r.data?.text === 'ls /opt/plc/7' ? undefined : r,
    );
    await writeLines(forged.lines);
    await unlink(headPath());
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /BROKEN at record seq 25 \(line 25\): audit.head.json is missing beside a log of 24 records/,
    );
    await expect(AuditLog.open({ dir, clock: new ManualClock() })).rejects.toMatchObject({
      name: 'AuditChainError',
      reason: expect.stringMatching(/--accept-missing-audit-head/),
    });

    const accepted = await AuditLog.open({ dir, clock: new ManualClock(), acceptMissingHead: true });
    await accepted.close();
    const tail = (await readLines()).slice(24).map((l) => JSON.parse(l) as AuditRecord);
    expect(tail.map((t) => t.type)).toEqual([
      'audit.checkpoint',
      'audit.missing_head_accepted',
      'audit.checkpoint',
      'audit.checkpoint',
    ]);
    expect(tail[1]!.data).toMatchObject({ records: 24, flag: '--accept-missing-audit-head' });
    const after = await verify();
    expect(after.code).toBe(0);
    expect(after.output).toMatch(
      /note: seq 26: the gateway was started with a missing audit.head.json accepted by the operator/,
    );
  });

  it('a correctly chained record appended after a clean stop is named, and the gateway will not start on it', async () => {
    await run(5);
    const lines = await readLines();
    const last = JSON.parse(lines.at(-1)!) as AuditRecord;
    const sneaked = sealRecord(last, command(99), '2026-11-23T10:00:30.000Z');
    await writeLines([...lines, sneaked.line]);
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      new RegExp(
        `BROKEN at record seq ${last.seq + 1} .*follows the final checkpoint of a clean stop \\(seq ${last.seq}\\).*appended while the gateway was stopped`,
      ),
    );
    await expect(AuditLog.open({ dir, clock: new ManualClock() })).rejects.toMatchObject({ seq: last.seq + 1 });
  });

  it('a record slipped in while the gateway runs breaks its next record, and the SIEM copy names the spot', async () => {
    const clock = new ManualClock();
    const log = await AuditLog.open({ dir, clock, checkpointEvery: 10, checkpointIntervalMs: 0 });
    await log.append(command(1));
    const lines = await readLines();
    const tail = JSON.parse(lines.at(-1)!) as AuditRecord;
    const sneaked = sealRecord(tail, command(666), tail.at);
    await writeFile(logPath(), `${sneaked.line}\n`, { flag: 'a' });
    await log.append(command(2)); // the gateway's own seq 3, written where the forged seq 3 already is
    await log.close();
    const honest = (await readLines()).filter((l) => l !== sneaked.line);
    const witness = await witnessOf(honest);
    const r = await verify('--witness', witness);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/BROKEN at record seq 4 \(line 4\): expected seq 4, found seq 3/);
    expect(r.output).toMatch(/witness MISMATCH at record seq 3: the local log contradicts the witness/);
  });

  it('a re-sign with a copied key passes the local checks and --key, and fails against the witness', async () => {
    await run(25);
    const original = await readLines();
    const witness = await witnessOf(original);
    const key = await loadOrCreateSigningKey(dir); // the insider read keys/ in the storage folder
    const forged = rechain(
      original,
      (r) => (r.data?.text === 'ls /opt/plc/12' ? { ...r, data: { ...r.data, text: 'plc stop' } } : r),
      key,
    );
    await writeLines(forged.lines);
    const head = {
      seq: forged.last.seq,
      hash: forged.last.hash,
      keyId: key.keyId,
      sig: key.sign(`${forged.last.seq}:${forged.last.hash}`),
    };
    await writeFile(headPath(), JSON.stringify(head));
    const pinned = join(dir, 'trusted.pub.pem');
    await writeFile(pinned, key.publicKeyPem);

    expect((await verify()).code).toBe(0);
    expect((await verify('--key', pinned)).code).toBe(0);
    const r = await verify('--key', pinned, '--witness', witness);
    expect(r.code).toBe(1);
    // seq 15 holds the 13th command (checkpoints at 1 and 12 come before it).
    expect(r.output).toMatch(
      /witness MISMATCH at record seq 15: the local log contradicts the witness: its record seq 15 differs from the record the SIEM received \(witness line 15\)/,
    );
  });

  it('records cut off the end, head re-signed with a copied key: the witness names the first missing checkpoint', async () => {
    await run(25);
    const original = await readLines();
    const witness = await witnessOf(original);
    const key = await loadOrCreateSigningKey(dir);
    const kept = original.slice(0, 20);
    await writeLines(kept);
    const last = JSON.parse(kept.at(-1)!) as AuditRecord;
    await writeFile(
      headPath(),
      JSON.stringify({
        seq: 12,
        hash: JSON.parse(kept[11]!).hash,
        keyId: key.keyId,
        sig: key.sign(`12:${JSON.parse(kept[11]!).hash}`),
      }),
    );
    expect(last.seq).toBe(20);
    expect((await verify()).code).toBe(0);
    const r = await verify('--witness', witness);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /witness MISMATCH at record seq 21: the local log lacks the record seq 21 the SIEM received .* the local log ends at seq 20/,
    );
  });

  it('an intact log agrees with its witness, which may lag behind', async () => {
    await run(25);
    const lines = await readLines();
    const witness = await witnessOf([...lines.slice(0, 20), lines[5]!]); // a resend: the same seq twice
    const r = await verify('--witness', witness);
    expect(r).toMatchObject({ code: 0 });
    expect(r.output).toMatch(
      /witness agrees: 20 records compared \(2 signed checkpoints\), the witness reaches seq 20/,
    );
    expect(r.output).toMatch(/note: 9 local records are not in the witness/);
  });

  it('a witness line that does not hash to itself, or a checkpoint not signed by the key, is not trusted', async () => {
    await run(3);
    const lines = await readLines();
    const witness = await witnessOf(lines);
    const text = await readFile(witness, 'utf8');
    await writeFile(witness, text.replace('ls /opt/plc/1', 'ls /opt/plc/X'));
    const r = await verify('--witness', witness);
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/witness note: witness line 3: record seq 3: hash mismatch/);
  });

  it('keeps the signing key outside the storage folder; --key pins its public key', async () => {
    const keyDir = await mkdtemp(join(tmpdir(), 'gatehouse-audit-key-'));
    try {
      const keyFile = join(keyDir, 'audit-ed25519.pem');
      await run(3, { signingKeyFile: keyFile });
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      await expect(stat(join(dir, 'keys', 'audit-ed25519.pem'))).rejects.toMatchObject({ code: 'ENOENT' });
      const pub = join(keyDir, 'audit.pub.pem');
      await copyFile(join(dir, 'keys', 'audit-ed25519.pub.pem'), pub);
      expect(await verify('--key', pub)).toMatchObject({ code: 0, output: /audit log intact: 9 records/ });
      // Without the key file the gateway does not invent a new key over an existing log.
      await expect(AuditLog.open({ dir, clock: new ManualClock() })).rejects.toMatchObject({
        code: 'audit_key_missing',
      });
      await run(1, { signingKeyFile: keyFile });
      expect((await verify('--key', pub)).code).toBe(0);
    } finally {
      await rm(keyDir, { recursive: true, force: true });
    }
  });
});
