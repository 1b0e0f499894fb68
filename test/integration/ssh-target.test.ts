// Target-side rules: a wrong pinned host key refuses and audits; a rotated key credential is used at the next
// connect; sftp relays where fileTransfer is allow.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { vendorClient } from '../helpers/ssh-vendor.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

let sshd: Sshd;
beforeAll(async () => {
  sshd = await startSshd();
}, 30_000);
afterAll(async () => {
  await sshd?.stop();
});

describe('target host key pinning', () => {
  let h: SshGateway;
  beforeAll(async () => {
    h = await startSshGateway({
      sshd,
      target: { ssh: { hostKeySha256: 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU' } },
    });
    await h.grant();
  }, 60_000);
  afterAll(async () => h?.close());

  it('refuses the vendor in one line and audits hostkey.mismatch with both fingerprints', async () => {
    const r = await h.ssh(TARGET, { command: 'echo should-not-run' });
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`Gatehouse: the host key of ${TARGET} does not match the pinned one`);
    const a = await h.waitAudit('hostkey.mismatch');
    expect(a.data).toMatchObject({
      expected: 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU',
      presented: sshd.hostKeySha256,
    });
    await h.waitAudit('session.refused', (x) => x.data?.code === 'hostkey_mismatch');
  });
});

describe('a key credential the site rotates', () => {
  // The gateway parses a target key once per key text and shares it between sessions (gateway/ssh/relay.ts):
  // a changed file must still be what the next connect logs in with.
  let h: SshGateway;
  let dir: TempDir;
  let credential: string;
  beforeAll(async () => {
    dir = await tempDir('gh-cred-');
    credential = join(dir.path, 'target_key');
    writeFileSync(credential, sshd.clientKey.privateKey, { mode: 0o600 });
    h = await startSshGateway({ sshd, target: { ssh: { credential: { file: credential } } } });
    await h.grant();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await dir?.remove();
  });

  it('logs in with the key the file holds at each connect: accepted, then a key the target refuses, then back', async () => {
    const first = await h.ssh(TARGET, { command: 'echo with-the-first-key' });
    expect(first.stdout).toContain('with-the-first-key');

    const other = join(dir.path, 'other_key');
    execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'not-authorized', '-f', other]);
    writeFileSync(credential, readFileSync(other, 'utf8'));
    const refused = await h.ssh(TARGET, { command: 'echo should-not-run' });
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`Gatehouse: the gateway could not log in to ${TARGET}`);
    await h.waitAudit('session.refused', (x) => x.data?.code === 'target_auth_failed');

    writeFileSync(credential, sshd.clientKey.privateKey);
    const again = await h.ssh(TARGET, { command: 'echo with-the-first-key-again' });
    expect(again.stdout).toContain('with-the-first-key-again');
  });
});

describe('sftp where fileTransfer is allow', () => {
  let h: SshGateway;
  beforeAll(async () => {
    h = await startSshGateway({ sshd, target: { fileTransfer: 'allow' } });
    await h.grant();
  }, 60_000);
  afterAll(async () => h?.close());

  it('relays an SFTP upload to the target', async () => {
    const path = `/tmp/gh-sftp-${process.pid}-${Date.now()}`;
    const c = await vendorClient(h, TARGET);
    try {
      const sftp = await new Promise<import('ssh2').SFTPWrapper>((res, rej) => c.sftp((e, s) => (e ? rej(e) : res(s))));
      await new Promise<void>((res, rej) => sftp.writeFile(path, 'through the gateway', (e) => (e ? rej(e) : res())));
      expect(existsSync(path)).toBe(true);
      expect(readFileSync(path, 'utf8')).toBe('through the gateway');
    } finally {
      c.end();
      rmSync(path, { force: true });
    }
  });
});
