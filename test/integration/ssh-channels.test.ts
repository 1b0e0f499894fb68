// Channel policy and evidence through the SSH front: forwards, sftp, agent/X11, recordings, commands and enforce-mode blocks.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSftp } from '../helpers/openssh-vendor.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

const run = promisify(execFile);
const PTY = 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)';
let h: SshGateway;
let echo: Server;
let echoPort: number;
const marker = `/tmp/gh-blocked-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  echoPort = (echo.address() as { port: number }).port;
  h = await startSshGateway({
    target: {
      forwarding: [`127.0.0.1:${echoPort}`],
      fileTransfer: 'deny',
      commands: {
        mode: 'enforce',
        rules: [
          { match: '^\\s*touch\\s+/tmp/gh-blocked', action: 'block', reason: 'marker files are not allowed' },
          { match: 'uname', action: 'alert', reason: 'asks the kernel' },
        ],
      },
    },
  });
  await h.grant();
}, 60_000);
afterAll(async () => {
  await h?.close();
  echo?.close();
});

const audit = async (type: string) => (await h.audit()).filter((a) => a.type === type);

describe('channels', () => {
  it('forwards direct-tcpip to a listed host:port (ssh -W) and audits forward.opened', async () => {
    const r = await h.ssh(TARGET, { options: ['-W', `127.0.0.1:${echoPort}`], input: 'ping-through\n' });
    expect(r.stdout).toBe('ping-through\n');
    expect((await audit('forward.opened')).at(-1)).toMatchObject({ data: { destination: `127.0.0.1:${echoPort}` } });
  });

  it('refuses direct-tcpip elsewhere and audits channel.refused', async () => {
    const r = await h.ssh(TARGET, { options: ['-W', '127.0.0.1:9'], input: '' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/administratively prohibited|open failed/);
    await h.waitAudit(
      'channel.refused',
      (a) =>
        a.data?.kind === 'direct-tcpip' && a.data.destination === '127.0.0.1:9' && a.data.code === 'forward_refused',
    );
  });

  it('refuses sftp where fileTransfer is deny', async () => {
    // `ssh -s … sftp` is exactly the subsystem request sftp and scp (SFTP mode) make.
    const r = await h.ssh(TARGET, { options: ['-s'], command: 'sftp', input: '' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/subsystem request failed/);
    await h.waitAudit('channel.refused', (a) => a.data?.kind === 'subsystem' && a.data.code === 'file_transfer_denied');
  });

  it('refuses the real sftp client where fileTransfer is deny, and audits it', async () => {
    const r = await runSftp(h, 'ls /\n');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/subsystem request failed|Connection closed/);
    expect(r.stdout).not.toContain('sftp>');
    await h.waitAudit(
      'channel.refused',
      (a) => a.data?.kind === 'subsystem' && a.data.name === 'sftp' && a.data.code === 'file_transfer_denied',
    );
    expect((await audit('file.transferred')).length).toBe(0);
  });

  it('refuses agent forwarding and X11 (audited) and the session still works', async () => {
    // OpenSSH asks for agent forwarding only with an agent running, and for X11 only with a DISPLAY.
    const sock = join(h.dir.path, 'agent.sock');
    const agent = spawn('/usr/bin/ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      await waitFor(() => existsSync(sock));
      const env = { SSH_AUTH_SOCK: sock, DISPLAY: '127.0.0.1:99' };
      const r = await h.ssh(TARGET, {
        options: ['-A', '-X'],
        env,
        command: 'echo still-works; echo "agent=${SSH_AUTH_SOCK:-none}"',
      });
      expect(r.stdout).toContain('still-works');
      expect(r.stdout).toContain('agent=none');
      await h.waitAudit('channel.refused', (a) => a.data?.kind === 'auth-agent');
      await h.waitAudit('channel.refused', (a) => a.data?.kind === 'x11');
    } finally {
      agent.kill();
    }
  });

  it('refuses remote forwarding (-R) and audits it', async () => {
    const r = await h.ssh(TARGET, {
      options: ['-R', '0:127.0.0.1:22', '-o', 'ExitOnForwardFailure=no'],
      command: 'echo r-ok',
    });
    expect(r.stdout).toContain('r-ok');
    await h.waitAudit('channel.refused', (a) => a.data?.kind === 'tcpip-forward');
  });
});

describe('evidence', () => {
  it('records a sealed asciicast that asciinema plays with the output the client saw', async () => {
    const r = await h.ssh(TARGET, { options: ['-tt'], input: 'echo rec-$((6*7)); exit\n' });
    expect(r.stdout).toContain('rec-42');
    const started = (await audit('session.started')).at(-1)!;
    const sessionId = started.subject!.sessionId as string;
    await waitFor(
      async () => h.gw.store.data.sessions.find((s) => s.id === sessionId)?.recording?.sha256 !== undefined,
    );
    const rec = h.gw.store.data.sessions.find((s) => s.id === sessionId)!;
    expect(rec).toMatchObject({ endReason: 'client_closed', targetId: TARGET });
    const path = join(h.gw.storageDir, rec.recording!.path);
    expect(rec.recording!.path).toMatch(/^sessions\/\d{4}\/\d{2}\/\d{2}\/ses_[\w-]+\.cast$/);
    const { createHash } = await import('node:crypto');
    expect(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    ).toBe(rec.recording!.sha256);
    // asciinema cat needs a controlling tty (see recording-asciinema.test.ts): python's pty gives it one.
    const played = (
      await run('python3', ['-c', PTY, '/usr/bin/asciinema', 'cat', path], {
        timeout: 20_000,
        env: { ...process.env, PYTHONIOENCODING: 'utf-8' },
      })
    ).stdout;
    // Byte for byte what the vendor's client received on stdout.
    expect(played).toBe(r.stdout);
    const sealed = await h.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);
    expect(sealed.data?.sha256).toBe(rec.recording!.sha256);
    expect((await h.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId)).data?.reason).toBe(
      'client_closed',
    );
  });

  it('stores exec commands as sent, and audits alerts', async () => {
    await h.ssh(TARGET, { command: 'uname -s' });
    await h.waitAudit('command.alerted', (a) => a.data?.text === 'uname -s' && a.data.via === 'exec');
    expect(h.gw.commands.records.at(-1)).toMatchObject({ text: 'uname -s', verdict: 'alerted' });
  });

  it('a blocked exec command never reaches the target', async () => {
    const r = await h.ssh(TARGET, { command: `touch ${marker}` });
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('[gatehouse] command blocked: marker files are not allowed');
    expect(existsSync(marker)).toBe(false);
    await h.waitAudit('command.blocked', (a) => a.data?.text === `touch ${marker}`);
  });
});

async function waitFor(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
