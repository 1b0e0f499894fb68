// `gatehouse audit verify` against real logs: intact, and each way of tampering with one, named by seq.
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../gateway/audit/signing.js';
import { AuditLog } from '../../gateway/audit-log.js';
import { runAuditVerify } from '../../gateway/cli/audit-verify.js';
import { rechain } from '../helpers/audit-forge.js';
import type { CliIo } from '../../gateway/cli/io.js';
import { ManualClock } from '../../gateway/clock.js';
import type { AuditRecord } from '../../gateway/core/audit.js';
import { freeForm } from '../helpers/free-form-audit.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-audit-verify-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(): { io: CliIo; text: () => string } {
  const lines: string[] = [];
  return { io: { out: (l) => lines.push(l), err: (l) => lines.push(l) }, text: () => lines.join('\n') };
}

async function verify(argv = ['--dir', dir]) {
  const c = capture();
  const code = await runAuditVerify(argv, c.io);
  return { code, output: c.text() };
}

/** 45 appends with a checkpoint every 10 records: checkpoints at seq 1, 12, 23, 34, 45 and 51 (close). */
async function writeLog(appends = 45, checkpointEvery = 10): Promise<void> {
  const clock = new ManualClock();
  const log = await AuditLog.open({ dir, clock, checkpointEvery });
  for (let i = 0; i < appends; i++) {
    clock.advance(1000);
    await log.append(
      freeForm({
        type: 'command.executed',
        actor: { kind: 'user', id: 'usr_vendor', name: 'Vera Vendor' },
        subject: { sessionId: 'ses_1', targetId: 'eng-ws-01' },
        data: { text: `ls /opt/plc/${i}`, verdict: 'allowed' },
      }),
    );
  }
  await log.close();
}

const logPath = () => join(dir, 'audit.jsonl');
const readLines = async () => (await readFile(logPath(), 'utf8')).split('\n').filter(Boolean);
const writeLines = (lines: string[]) => writeFile(logPath(), lines.map((l) => `${l}\n`).join(''));

describe('gatehouse audit verify', () => {
  it('reports an intact log', async () => {
    await writeLog();
    expect(await verify()).toEqual({
      code: 0,
      output: 'audit log intact: 51 records, 6 checkpoints, last checkpoint at seq 51',
    });
  });

  it('names the record with one flipped byte', async () => {
    await writeLog();
    const buf = await readFile(logPath());
    const at = buf.indexOf('ls /opt/plc/17');
    buf[at + 1] = 'S'.charCodeAt(0); // record 20 holds the 18th append
    await writeFile(logPath(), buf);
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/^audit log BROKEN at record seq 20 \(line 20\): hash mismatch/);
  });

  it('names a deleted record', async () => {
    await writeLog();
    const lines = await readLines();
    lines.splice(19, 1);
    await writeLines(lines);
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/BROKEN at record seq 20 \(line 20\): expected seq 20, found seq 21/);
  });

  it('names reordered records', async () => {
    await writeLog();
    const lines = await readLines();
    [lines[19], lines[20]] = [lines[20]!, lines[19]!];
    await writeLines(lines);
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/BROKEN at record seq 20 \(line 20\)/);
  });

  it('detects a log cut off in the middle of a line', async () => {
    await writeLog();
    const lines = await readLines();
    await writeFile(
      logPath(),
      lines
        .slice(0, 29)
        .map((l) => `${l}\n`)
        .join('') + lines[29]!.slice(0, 100),
    );
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/BROKEN at record seq 30 \(line 30\): the last line is incomplete/);
  });

  it('detects whole lines cut off below the signed head', async () => {
    await writeLog();
    await writeLines((await readLines()).slice(0, 40));
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /BROKEN at record seq 41 \(line 41\): the log ends at seq 40 but the signed head is at seq 51/,
    );
  });

  it('detects a re-chained log: one record rewritten, every hash recomputed, no key', async () => {
    await writeLog();
    const forged = rechain(await readLines(), (r) =>
      r.seq === 20 ? { ...r, data: { ...r.data, text: 'rm -rf /opt/plc' } } : r,
    ).lines;
    await writeLines(forged);
    const r = await verify();
    expect(r.code).toBe(1);
    // The first checkpoint after the edit no longer has a valid signature.
    expect(r.output).toMatch(/BROKEN at record seq 23 \(line 23\): checkpoint signature is invalid/);
  });

  it('detects a re-chained log with every checkpoint removed', async () => {
    await writeLog();
    const forged = rechain(await readLines(), (r) => (r.type === 'audit.checkpoint' ? undefined : r)).lines;
    await writeLines(forged);
    const withHead = await verify();
    expect(withHead.code).toBe(1);
    expect(withHead.output).toMatch(
      /BROKEN at record seq 46 \(line 46\): the log ends at seq 45 but the signed head is at seq 51/,
    );
    // With the head file deleted too, the chain alone holds (fewer than the 1000-record bound), so a
    // missing head beside a non-empty log is itself the failure.
    await unlink(join(dir, 'audit.head.json'));
    const headless = await verify();
    expect(headless.code).toBe(1);
    expect(headless.output).toMatch(
      /BROKEN at record seq 46 \(line 46\): audit.head.json is missing beside a log of 45 records/,
    );
  });

  it('detects checkpoints removed from a long log, even with the head file gone', async () => {
    await writeLog(1100, 1000);
    const forged = rechain(await readLines(), (r) => (r.type === 'audit.checkpoint' ? undefined : r)).lines;
    await writeLines(forged);
    await unlink(join(dir, 'audit.head.json'));
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /BROKEN at record seq 1001 \(line 1001\): more than 1000 records without a signed checkpoint/,
    );
  });

  it('detects a head file replaced by an older copy', async () => {
    await writeLog(5);
    const oldHead = await readFile(join(dir, 'audit.head.json'));
    for (let run = 0; run < 2; run++) {
      const log = await AuditLog.open({ dir, clock: new ManualClock(), checkpointEvery: 10 });
      await log.append({ type: 'auth.login', actor: { kind: 'user', id: 'usr_1' } });
      await log.close();
    }
    await writeFile(join(dir, 'audit.head.json'), oldHead);
    // Checkpoints at 7 (old head), 8 and 10 (first reopen), 11 and 13: a crash explains a head one
    // checkpoint behind, not four.
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /BROKEN at record seq 13 \(line 13\): the signed head \(seq 7\) is older than this checkpoint/,
    );
  });

  it("detects a log re-signed with the attacker's own key", async () => {
    await writeLog();
    const realPublicKey = await readFile(join(dir, 'keys', 'audit-ed25519.pub.pem'), 'utf8');
    const attacker = generateKeyPairSync('ed25519');
    const keyId = keyIdOf(attacker.publicKey);
    const signer = (m: string) => sign(null, Buffer.from(m), attacker.privateKey).toString('base64');
    const forged = rechain(
      await readLines(),
      (r) => (r.seq === 20 ? { ...r, data: { ...r.data, text: 'plc stop' } } : r),
      { keyId, sign: signer },
    ).lines;
    await writeLines(forged);
    const last = JSON.parse(forged.at(-1)!) as AuditRecord;
    const head = { seq: last.seq, hash: last.hash, keyId, sig: signer(`${last.seq}:${last.hash}`) };
    await writeFile(join(dir, 'audit.head.json'), JSON.stringify(head));
    await writeFile(
      join(dir, 'keys', 'audit-ed25519.pub.pem'),
      attacker.publicKey.export({ type: 'spki', format: 'pem' }),
    );
    // Caught while the gateway's private key is readable: the public key file no longer matches it.
    const swapped = await verify();
    expect(swapped.code).toBe(1);
    expect(swapped.output).toMatch(/audit log BROKEN: audit-ed25519.pub.pem does not match the gateway's signing key/);
    // An auditor elsewhere, without the private key, pins the public key they trust.
    await unlink(join(dir, 'keys', 'audit-ed25519.pem'));
    const pinned = join(dir, 'trusted.pub.pem');
    await writeFile(pinned, realPublicKey);
    const r = await verify(['--dir', dir, '--public-key', pinned]);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /BROKEN at record seq 1 \(line 1\): checkpoint signed by key [0-9a-f]{16}, not by the gateway's key/,
    );
  });

  it('says so when there is no log', async () => {
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/no audit log at .*audit\.jsonl/);
  });

  it('finds the storage folder through --config', async () => {
    await writeLog(3);
    const config = join(dir, 'gatehouse.yaml');
    await writeFile(config, `site: { name: test }\nstorage: { dir: ${JSON.stringify(dir)} }\n`);
    expect(await verify(['--config', config])).toMatchObject({
      code: 0,
      output: /audit log intact: 5 records/,
    });
    const c = capture();
    const code = await runAuditVerify(['--config', 'whatever.yaml'], c.io, {
      storageDirFromConfig: async () => dir,
    });
    expect(code).toBe(0);
    expect(await verify(['--dir'])).toMatchObject({ code: 2, output: /usage/ });
  });
});
