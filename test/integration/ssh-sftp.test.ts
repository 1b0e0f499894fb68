// SFTP through the gateway with OpenSSH's sftp as the vendor and a real sshd behind: every file audited
// with name, direction, size and SHA-256; what cannot be audited closes the channel, audited.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScp, runSftp } from '../helpers/openssh-vendor.js';
import { type AuditLine, type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { collect, openExec, vendorClient } from '../helpers/ssh-vendor.js';

let h: SshGateway;
let remote: string;

beforeAll(async () => {
  h = await startSshGateway({ target: { fileTransfer: 'allow' } });
  await h.grant();
  // The target sshd runs on this machine as this user: its files are ours to check.
  remote = join(h.dir.path, 'remote');
  await mkdir(remote);
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const transfers = async () => (await h.audit()).filter((a) => a.type === 'file.transferred') as AuditLine[];

describe('sftp through the gateway (OpenSSH sftp → gateway → sshd)', () => {
  it('uploads and downloads a multi-MiB file; each is audited with the right SHA-256; changes are audited too', async () => {
    const body = randomBytes(5 * 1024 * 1024 + 12345);
    const local = join(h.dir.path, 'recipe-upload.bin');
    const back = join(h.dir.path, 'recipe-download.bin');
    await writeFile(local, body);
    const r = await runSftp(
      h,
      [
        `put ${local} ${remote}/recipe.bin`,
        `get ${remote}/recipe.bin ${back}`,
        `mkdir ${remote}/old`,
        `rename ${remote}/recipe.bin ${remote}/old/recipe.bin`,
        `rm ${remote}/old/recipe.bin`,
        `rmdir ${remote}/old`,
        '',
      ].join('\n'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(sha(await readFile(back))).toBe(sha(body));
    const up = await h.waitAudit(
      'file.transferred',
      (a) => a.data?.direction === 'upload' && a.data.name === `${remote}/recipe.bin`,
    );
    const down = await h.waitAudit(
      'file.transferred',
      (a) => a.data?.direction === 'download' && a.data.name === `${remote}/recipe.bin`,
    );
    expect(up.data).toEqual({
      name: `${remote}/recipe.bin`,
      direction: 'upload',
      size: body.length,
      sha256: sha(body),
      sequential: true,
      closed: true,
    });
    expect(down.data).toEqual({
      name: `${remote}/recipe.bin`,
      direction: 'download',
      size: body.length,
      sha256: sha(body),
      sequential: true,
      closed: true,
    });
    expect(up.subject).toMatchObject({ targetId: TARGET, userId: h.vendor.me.id });
    expect(up.subject?.sessionId).toMatch(/^ses_/);
    await h.waitAudit('file.changed', (a) => a.data?.op === 'rmdir' && a.data.path === `${remote}/old`);
    const changes = (await h.audit()).filter((a) => a.type === 'file.changed').map((a) => a.data);
    expect(changes).toEqual([
      { op: 'mkdir', path: `${remote}/old`, ok: true },
      { op: 'rename', path: `${remote}/recipe.bin`, to: `${remote}/old/recipe.bin`, ok: true },
      { op: 'remove', path: `${remote}/old/recipe.bin`, ok: true },
      { op: 'rmdir', path: `${remote}/old`, ok: true },
    ]);
    expect((await transfers()).filter((t) => String(t.data?.name).startsWith(`${remote}/recipe`))).toHaveLength(2);
  });

  it('scp (OpenSSH 9 speaks SFTP) is audited the same way, both directions', async () => {
    const body = randomBytes(1024 * 1024 + 7);
    const local = join(h.dir.path, 'scp-up.bin');
    await writeFile(local, body);
    const r = await runScp(h, local, `${TARGET}:${remote}/scp.bin`);
    expect(r.code, r.stderr).toBe(0);
    expect((await runScp(h, `${TARGET}:${remote}/scp.bin`, `${local}.back`)).code).toBe(0);
    expect(sha(await readFile(`${local}.back`))).toBe(sha(body));
    const up = await h.waitAudit(
      'file.transferred',
      (a) => a.data?.name === `${remote}/scp.bin` && a.data.direction === 'upload',
    );
    const down = await h.waitAudit(
      'file.transferred',
      (a) => a.data?.name === `${remote}/scp.bin` && a.data.direction === 'download',
    );
    expect([up.data?.sha256, down.data?.sha256, up.data?.size]).toEqual([sha(body), sha(body), body.length]);
  });

  it('the legacy scp protocol (scp -O) and rsync are refused and audited: they would carry files past the file audit', async () => {
    const local = join(h.dir.path, 'legacy.bin');
    await writeFile(local, randomBytes(4096));
    const up = await runScp(h, local, `${TARGET}:${remote}/legacy.bin`, { options: ['-O'] });
    expect(up.code).not.toBe(0);
    expect(up.stderr).toMatch(/legacy scp protocol \(scp -O\) is not available/);
    const down = await runScp(h, `${TARGET}:/etc/hostname`, `${local}.down`, { options: ['-O'] });
    expect(down.code).not.toBe(0);
    const refused = (await h.audit())
      .filter((a) => a.type === 'channel.refused' && a.data?.code === 'legacy_scp_refused')
      .map((a) => String(a.data?.command));
    expect(refused).toEqual(
      expect.arrayContaining([expect.stringMatching(/^scp .*-t /), expect.stringMatching(/^scp .*-f /)]),
    );
    const rsync = await h.ssh(TARGET, { command: 'rsync --server -vlogDtpre.iLsfxCIvu . /tmp/x' });
    expect(rsync.code).not.toBe(0);
    expect(rsync.stderr).toMatch(/rsync is not available/);
    await h.waitAudit('channel.refused', (a) => a.data?.code === 'rsync_refused');
    expect(existsSync(`${remote}/legacy.bin`)).toBe(false);
  });

  it('a failed upload (no such directory) is audited as what happened, not as a transfer', async () => {
    const local = join(h.dir.path, 'small.txt');
    await writeFile(local, 'hello\n');
    const r = await runSftp(h, `put ${local} ${remote}/missing-dir/small.txt\n`);
    expect(r.stderr).toMatch(/No such file|Couldn't open/i);
    expect((await transfers()).filter((t) => String(t.data?.name).includes('missing-dir'))).toEqual([]);
  });
});

/** A raw SFTP channel from an ssh2 client: what a hostile vendor could send. */
function subsys(c: Awaited<ReturnType<typeof vendorClient>>): Promise<ClientChannel> {
  return new Promise((resolve, reject) => c.subsys('sftp', (err, ch) => (err ? reject(err) : resolve(ch))));
}

describe('sftp: what cannot be audited is stopped', () => {
  for (const [what, bytes, code] of [
    ['a 4 GiB packet length', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x06, 0, 0, 0, 1]), 'sftp_packet_too_large'],
    ['garbage instead of INIT', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'sftp_packet_too_large'],
    ['a packet that is not INIT', Buffer.from([0, 0, 0, 9, 0x03, 0, 0, 0, 1, 0, 0, 0, 0]), 'sftp_malformed'],
  ] as const) {
    it(`${what}: the channel is closed, the refusal audited, the connection and other sessions go on`, async () => {
      const c = await vendorClient(h, TARGET);
      try {
        const ch = await subsys(c);
        const err = collect(ch);
        const closed = new Promise<void>((r) => ch.on('close', () => r()));
        ch.write(bytes);
        // A flood behind the bad length goes nowhere: the gateway dropped the channel's input.
        for (let i = 0; i < 32 && ch.writable; i++) ch.write(randomBytes(64 * 1024));
        await closed;
        expect(err.text).toContain('[gatehouse] file transfer stopped');
        await h.waitAudit('channel.refused', (a) => a.data?.kind === 'sftp' && a.data.code === code);
        // The same connection still serves an exec.
        const ex = await openExec(c, 'echo still-$((40+2))');
        await collect(ex).until(/still-42/);
      } finally {
        c.end();
      }
    });
  }
});
