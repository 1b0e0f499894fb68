// Private OpenSSH daemons for the bench (the target and the ProxyJump host): loopback, free port, temp keys, own config.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { privateSshdConfig, stopSshdTree } from './private-sshd.js';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';
export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

export interface BenchSshd {
  name: string;
  port: number;
  pid: number;
  /** `SHA256:…` of the host key, as the gateway's config pins it. */
  hostKeySha256: string;
  hostKeyPublic: string;
  logPath: string;
  stop(): Promise<void>;
}

export function requireBinaries(): void {
  for (const [path, pkg] of [
    [SSHD, 'openssh-server'],
    [SSH, 'openssh-client'],
    [SSH_KEYGEN, 'openssh-client'],
  ] as const)
    if (!existsSync(path))
      throw new Error(`${path} is missing: the bench compares against OpenSSH (apt-get install ${pkg})`);
}

/** An ed25519 key pair at `path` (+ `.pub`); returns the public line. */
export async function keygen(path: string, comment: string): Promise<string> {
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { timeout: 10_000 });
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

export async function fingerprint(pubPath: string): Promise<string> {
  const out = (await run(SSH_KEYGEN, ['-l', '-E', 'sha256', '-f', pubPath])).stdout;
  const fp = out.split(' ')[1] ?? '';
  if (!fp.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen -l output: ${out}`);
  return fp;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Starts `sshd -D` in `dir` accepting the keys in `authorizedKeys` (a file path). */
export async function startSshd(name: string, dir: string, authorizedKeys: string): Promise<BenchSshd> {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir: sshd needs it
  await mkdir(dir, { recursive: true });
  const hostKeyPublic = await keygen(join(dir, 'host_ed25519'), `gatehouse-bench-${name}`);
  const hostKeySha256 = await fingerprint(join(dir, 'host_ed25519.pub'));
  const logPath = join(dir, 'sshd.log');
  // Sessions get a HOME of their own (empty): the machine's dotfiles must not run in every bench shell. Why: the
  // login shell sources the user's ~/.bashrc, and one that takes a lock shared with other users (pyenv rehash)
  // made concurrent streams wait on each other and on whoever else held it, and fail.
  const home = join(dir, 'home');
  await mkdir(home, { recursive: true, mode: 0o700 });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configPath = join(dir, 'sshd_config');
    await writeFile(
      configPath,
      privateSshdConfig({
        dir,
        port,
        authorizedKeys,
        maxStartups: '1000',
        maxSessions: 10,
        extra: [`SetEnv HOME=${home}`],
      }),
    );
    const fd = openSync(logPath, 'a');
    const child = spawn(SSHD, ['-D', '-e', '-E', logPath, '-f', configPath], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      if ((await readFile(logPath, 'utf8').catch(() => '')).includes(`listening on 127.0.0.1 port ${port}`)) {
        return {
          name,
          port,
          pid: child.pid!,
          hostKeySha256,
          hostKeyPublic,
          logPath,
          stop: async () => {
            process.removeListener('exit', kill);
            await stopSshdTree(child);
          },
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    process.removeListener('exit', kill);
    await stopSshdTree(child);
    const log = await readFile(logPath, 'utf8').catch(() => '');
    if (/Address already in use/i.test(log) && attempt < 3) continue;
    throw new Error(`${name} sshd did not come up on 127.0.0.1:${port}; its log:\n${log}`);
  }
}

export const osUser = () => userInfo().username;
