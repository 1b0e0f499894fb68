// Proves the sshd harness: OpenSSH's client runs a command on it, and ssh2 sees the host key the helper reports.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { Client, type ConnectConfig, utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary, SSH, type Sshd, sshClientArgs, startSshd } from '../helpers/sshd.js';

const run = promisify(execFile);
const extraKey = utils.generateKeyPairSync('ed25519', { comment: 'extra-key' });

function connect(cfg: ConnectConfig): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ readyTimeout: 10_000, ...cfg });
  });
}

function exec(c: Client, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, stream) => {
      if (err) return reject(err);
      let out = '';
      stream.on('data', (d: Buffer) => {
        out += d.toString();
      });
      stream.stderr.resume();
      stream.once('close', () => resolve(out));
    });
  });
}

describe('sshd harness', () => {
  let sshd: Sshd;
  let echo: Server;

  beforeAll(async () => {
    sshd = await startSshd({ authorizedKeys: [extraKey.public] });
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    await sshd?.stop();
    await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
  });

  it('fails loudly, never skips, when a binary is missing', () => {
    expect(() => requireBinary('/nonexistent/sshd', 'openssh-server')).toThrow(
      /\/nonexistent\/sshd is missing: .*apt-get install openssh-server/,
    );
  });

  it('runs a command through the OpenSSH client with a pinned host key', async () => {
    const { stdout } = await run(SSH, [...sshClientArgs(sshd), 'echo hello-from-sshd'], { timeout: 20_000 });
    expect(stdout).toBe('hello-from-sshd\n');
    expect(sshd.hostKeySha256).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('refuses a key that is not authorized', async () => {
    const other = utils.generateKeyPairSync('ed25519');
    const c = connect({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey: other.private });
    await expect(c).rejects.toThrow(/authentication methods failed/);
  });

  it('shows ssh2 the host key whose SHA-256 the helper reports, and accepts an extra authorized key', async () => {
    let seen = '';
    const c = await connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: extraKey.private,
      hostVerifier: (key: Buffer) => {
        seen = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
        return seen === sshd.hostKeySha256;
      },
    });
    try {
      expect(seen).toBe(sshd.hostKeySha256);
      expect(await exec(c, 'echo via-ssh2')).toBe('via-ssh2\n');
    } finally {
      c.end();
    }
  });

  it('serves sftp and TCP forwarding', async () => {
    const c = await connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: sshd.clientKey.privateKey,
    });
    try {
      const names = await new Promise<string[]>((resolve, reject) =>
        c.sftp((err, sftp) => {
          if (err) return reject(err);
          sftp.readdir(sshd.dir, (e, list) => (e ? reject(e) : resolve(list.map((f) => f.filename))));
        }),
      );
      expect(names).toContain('sshd_config');
      const port = (echo.address() as { port: number }).port;
      const reply = await new Promise<string>((resolve, reject) =>
        c.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, ch) => {
          if (err) return reject(err);
          ch.once('data', (d: Buffer) => {
            resolve(d.toString());
            ch.close();
          });
          ch.write('ping');
        }),
      );
      expect(reply).toBe('ping');
    } finally {
      c.end();
    }
  });
});
