// PuTTY's plink as a vendor: no terminal (a new session, so no /dev/tty), the code on stdin, the gateway's host key pinned.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SshGateway, SshResult } from './ssh-gateway.js';
import { requireBinary } from './sshd.js';

const run = promisify(execFile);
export const PLINK = '/usr/bin/plink';
const PUTTYGEN = '/usr/bin/puttygen';

/** Runs `plink login@gateway command`, answering `Verification code:` with a fresh code on stdin. */
export async function runPlink(
  h: SshGateway,
  login: string,
  command: string,
  o: { timeoutMs?: number } = {},
): Promise<SshResult> {
  requireBinary(PLINK, 'putty-tools');
  const ppk = join(h.dir.path, 'vendor.ppk');
  await run(PUTTYGEN, [h.vendor.keyPath, '-O', 'private', '-o', ppk], { timeout: 10_000 });
  const args = [
    '-ssh',
    '-no-antispoof',
    '-P',
    String(h.port),
    '-i',
    ppk,
    '-hostkey',
    h.gw.ssh!.hostKeys[0]!.fingerprint,
    `${login}@127.0.0.1`,
    command,
  ];
  // detached: a session of its own, so plink cannot open /dev/tty and reads the prompt answer from stdin.
  const child = spawn(PLINK, args, {
    env: { PATH: process.env.PATH, HOME: h.dir.path },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.end(`${h.freshCode()}\n`);
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000);
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
