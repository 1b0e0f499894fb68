// The real `gatehouse serve` and `audit verify` binaries with the evidence settings: a missing signed head stops
// start-up unless accepted (and audited); a key kept outside the storage folder; every record streamed to rsyslog.
import { rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog } from '../../gateway/audit-log.js';
import { systemClock } from '../../gateway/clock.js';
import { runCli, startCli } from '../helpers/cli.js';
import { testConfigInput } from '../helpers/config.js';
import { receivedBySeq, type Rsyslog, rsyslogIn } from '../helpers/rsyslog.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const env = { GATEHOUSE_TEST_OIDC_SECRET: 'not-a-real-secret' };
let tmp: TempDir;
let rsyslog: Rsyslog | undefined;
beforeEach(async () => {
  tmp = await tempDir('gh-audit-serve-');
  await writeFile(join(tmp.path, 'target-key'), 'placeholder-key\n', { mode: 0o600 });
});
afterEach(async () => {
  await rsyslog?.stop();
  rsyslog = undefined;
  await tmp.remove();
});

async function serveOnce(extra: string[] = []): Promise<void> {
  const gw = await startCli(['serve', '--config', 'gatehouse.yaml', ...extra], /serving Test plant on (http:\S+)/, {
    cwd: tmp.path,
    env,
    timeoutMs: 90_000,
  });
  const signal = new Promise((r) => gw.child.once('exit', (_c, s) => r(s)));
  gw.child.kill('SIGTERM');
  const done = await gw.exited;
  expect(done.code, `${String(await signal)} ${done.stderr}`).toBe(0);
}

describe('gatehouse serve and audit verify: the evidence settings', () => {
  it('refuses to start without audit.head.json beside a non-empty log, unless the operator accepts it (audited)', async () => {
    await writeFile(join(tmp.path, 'gatehouse.yaml'), stringify(testConfigInput('state')));
    const log = await AuditLog.open({ dir: join(tmp.path, 'state'), clock: systemClock, checkpointIntervalMs: 0 });
    await log.append({ type: 'auth.login', actor: { kind: 'user', id: 'usr_1' } });
    await log.close();
    await unlink(join(tmp.path, 'state', 'audit.head.json'));

    const refused = await runCli(['serve', '--config', 'gatehouse.yaml'], { cwd: tmp.path, env, timeoutMs: 90_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /audit log is broken, refusing to start: .*audit.head.json is missing beside a log of \d+ records.*--accept-missing-audit-head/,
    );
    const verify = await runCli(['audit', 'verify', '--dir', join(tmp.path, 'state')]);
    expect(verify.code).toBe(1);

    await serveOnce(['--accept-missing-audit-head']);
    const after = await runCli(['audit', 'verify', '--dir', join(tmp.path, 'state')]);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(
      /note: seq \d+: the gateway was started with a missing audit.head.json accepted by the operator/,
    );
  }, 90_000);

  it('signs with a key outside the storage folder and streams every record to the SIEM, which then serves as witness', async () => {
    rsyslog = await rsyslogIn(tmp.path);
    const keyFile = join(tmp.path, 'secret', 'audit-ed25519.pem');
    const config = {
      ...testConfigInput('state'),
      audit: {
        signingKey: { file: 'secret/audit-ed25519.pem' },
        checkpointEverySeconds: 5,
        syslog: { host: '127.0.0.1', port: rsyslog.port, transport: 'tcp' },
      },
    };
    await writeFile(join(tmp.path, 'gatehouse.yaml'), stringify(config));
    await serveOnce();
    const dir = join(tmp.path, 'state');
    const verify = await runCli([
      'audit',
      'verify',
      '--dir',
      dir,
      '--key',
      join(dir, 'keys', 'audit-ed25519.pub.pem'),
      '--witness',
      rsyslog.file,
    ]);
    expect(verify.stdout).toMatch(/audit log intact/);
    expect(verify.stdout).toMatch(/witness agrees: (\d+) records compared/);
    expect(verify.code).toBe(0);
    const got = receivedBySeq(await rsyslog.lines());
    const records = Number(/audit log intact: (\d+) records/.exec(verify.stdout)![1]);
    expect([...got.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: records }, (_, i) => i + 1));
    expect((await rsyslog.lines()).join('\n')).toMatch(/ gateway\.stopped \[gatehouse@32473 seq=/);

    // The key was never in the storage folder; without it the gateway will not start on this log.
    await rm(keyFile);
    const refused = await runCli(['serve', '--config', 'gatehouse.yaml'], { cwd: tmp.path, env, timeoutMs: 90_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/audit signing key .*secret\/audit-ed25519.pem is missing/);
  }, 90_000);
});
