// A private OpenSSH sshd on loopback, as the bench and the tests run it: its config, and how to stop it with the
// per-connection children it forks (they call setsid, so they are found by parentage, not by process group).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { descendants } from './proc.js';

export interface PrivateSshdConfig {
  dir: string;
  port: number;
  authorizedKeys: string;
  /** e.g. '1000' for the scale cases (hundreds of connections from one address at once). */
  maxStartups: string;
  maxSessions: number;
  extra?: string[];
}

/** Keys only, root allowed (the tests and the bench run as root), verbose log (routes are checked in it). */
export function privateSshdConfig(o: PrivateSshdConfig): string {
  return [
    `ListenAddress 127.0.0.1:${o.port}`,
    `HostKey ${join(o.dir, 'host_ed25519')}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    'PidFile none',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'AllowTcpForwarding yes',
    `MaxStartups ${o.maxStartups}`,
    `MaxSessions ${o.maxSessions}`,
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    ...(o.extra ?? []),
    '',
  ].join('\n');
}

/** SIGTERM to sshd and every process below it; SIGKILL to sshd if it has not exited after `timeoutMs`. */
export async function stopSshdTree(child: ChildProcess, timeoutMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (const pid of await descendants(child.pid)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
