// A real OpenSSH sshd for tests: foreground, loopback, free port, temp host and client keys; never a silent skip.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { privateSshdConfig, stopSshdTree } from '../../bench/private-sshd.js';
import { freePort, waitForPort } from './ports.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';

export interface Sshd {
  host: '127.0.0.1';
  port: number;
  /** `SHA256:…` as `ssh-keygen -lf` prints it (base64, no padding). */
  hostKeySha256: string;
  /** The host public key, OpenSSH one-line form. */
  hostKeyPublic: string;
  /** The OS user tests log in as (the current user; root here). */
  user: string;
  clientKey: { privateKeyPath: string; privateKey: string; publicKey: string };
  /** A known_hosts file holding only this server's host key. */
  knownHostsPath: string;
  dir: string;
  logPath: string;
  /** Kills sshd (and the per-connection children it forked), waits, removes the temp dir. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** More public keys (OpenSSH one-line form) to accept besides the generated client key. */
  authorizedKeys?: string[];
  password?: never;
  /** Extra sshd_config lines, appended last. */
  extraConfig?: string[];
  startTimeoutMs?: number;
}

/** Throws a clear error when a binary a test needs is missing; in CI that is always a failure, never a skip. */
export function requireBinary(path: string, debianPackage: string): void {
  if (existsSync(path)) return;
  const where = process.env.CI === 'true' ? 'CI must install it' : 'install it';
  throw new Error(`${path} is missing: ${where} (apt-get install ${debianPackage})`);
}

async function keygen(path: string, comment: string): Promise<{ privateKey: string; publicKey: string }> {
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { timeout: 10_000 });
  const [privateKey, publicKey] = await Promise.all([readFile(path, 'utf8'), readFile(`${path}.pub`, 'utf8')]);
  return { privateKey, publicKey: publicKey.trim() };
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  requireBinary(SSHD, 'openssh-server');
  requireBinary(SSH_KEYGEN, 'openssh-client');
  // Privilege separation directory: sshd refuses to start without it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const tmp = await tempDir('gatehouse-sshd-');
  const dir = tmp.path;
  try {
    const host = await keygen(join(dir, 'host_ed25519'), 'gatehouse-test-host');
    const client = await keygen(join(dir, 'client_ed25519'), 'gatehouse-test-client');
    const fp = (await run(SSH_KEYGEN, ['-l', '-E', 'sha256', '-f', join(dir, 'host_ed25519.pub')])).stdout;
    const hostKeySha256 = fp.split(' ')[1] ?? '';
    if (!hostKeySha256.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen -l output: ${fp}`);
    const keys = [client.publicKey, ...(opts.authorizedKeys ?? [])].map((k) => k.trim());
    await writeFile(join(dir, 'authorized_keys'), `${keys.join('\n')}\n`, { mode: 0o600 });
    const logPath = join(dir, 'sshd.log');
    const configPath = join(dir, 'sshd_config');

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(
        configPath,
        privateSshdConfig({
          dir,
          port,
          authorizedKeys: join(dir, 'authorized_keys'),
          maxStartups: '100:30:200',
          maxSessions: 50,
          extra: opts.extraConfig ?? [],
        }),
      );
      const fd = openSync(logPath, 'a');
      const child = spawn(SSHD, ['-D', '-e', '-E', logPath, '-f', configPath], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      const killOnExit = () => child.kill('SIGKILL');
      process.once('exit', killOnExit);
      const alive = () => child.exitCode === null && child.signalCode === null;
      const up = await waitForPort(port, { timeoutMs: opts.startTimeoutMs ?? 10_000, isAlive: alive });
      if (up && alive()) {
        const knownHostsPath = join(dir, 'known_hosts');
        await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${host.publicKey}\n`);
        const stop = async () => {
          process.removeListener('exit', killOnExit);
          await stopSshdTree(child);
          await tmp.remove();
        };
        return {
          host: '127.0.0.1',
          port,
          hostKeySha256,
          hostKeyPublic: host.publicKey,
          user: userInfo().username,
          clientKey: { privateKeyPath: join(dir, 'client_ed25519'), ...client },
          knownHostsPath,
          dir,
          logPath,
          stop,
        };
      }
      process.removeListener('exit', killOnExit);
      await stopSshdTree(child);
      const log = await readFile(logPath, 'utf8').catch(() => '');
      // Another process may take the port between freePort() and sshd's bind: try a new one.
      if (/Address already in use/i.test(log) && attempt < 3) continue;
      throw new Error(`sshd did not come up on 127.0.0.1:${port} (attempt ${attempt}); its log:\n${log}`);
    }
  } catch (e) {
    await tmp.remove();
    throw e;
  }
}

/** argv for /usr/bin/ssh to this sshd: pinned host key, no user config, no prompts; append the command. */
export function sshClientArgs(
  sshd: Pick<Sshd, 'port' | 'user' | 'knownHostsPath' | 'clientKey'>,
  { identity, extra = [] }: { identity?: string; extra?: string[] } = {},
): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    identity ?? sshd.clientKey.privateKeyPath,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${sshd.knownHostsPath}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(sshd.port),
    ...extra,
    `${sshd.user}@127.0.0.1`,
  ];
}
