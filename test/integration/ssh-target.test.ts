// Target-side rules: a wrong pinned host key refuses and audits; sftp relays where fileTransfer is allow.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { vendorClient } from '../helpers/ssh-vendor.js';

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
