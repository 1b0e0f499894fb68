// OpenSSH's ssh and sftp as the vendor, driven live (paced typing, a session kept open); askpass answers `Verification code:`.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SSH } from './sshd.js';
import { type SshGateway, type SshResult, TARGET } from './ssh-gateway.js';
import { vendorSshOptions } from './ssh-options.js';

export const SFTP = '/usr/bin/sftp';
export const SCP = '/usr/bin/scp';

/** The environment that makes ssh ask askpass for the code, with a fresh code (advances the gateway clock). */
async function askpassEnv(h: Pick<SshGateway, 'dir' | 'freshCode'>, code = h.freshCode()): Promise<NodeJS.ProcessEnv> {
  const tag = randomBytes(4).toString('hex');
  const codeFile = join(h.dir.path, `code-${tag}`);
  const askpass = join(h.dir.path, `askpass-${tag}.sh`);
  await writeFile(codeFile, `${code}\n`);
  await writeFile(askpass, `#!/bin/sh\ncat '${codeFile}'\n`);
  await chmod(askpass, 0o700);
  return { PATH: process.env.PATH, HOME: h.dir.path, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' };
}

export interface LiveSsh {
  child: ChildProcessWithoutNullStreams;
  /** Everything the client printed on stdout and stderr so far (with `tail`: only the last 64 KiB). */
  readonly text: string;
  /** Characters received in all. */
  readonly received: number;
  write(s: string): void;
  /** Waits until the output (from offset `from` on) matches `re` (bounded). */
  until(re: RegExp, o?: { ms?: number; from?: number }): Promise<string>;
  /** Resolves with the exit code once ssh exits (null: killed). */
  exited: Promise<number | null>;
  kill(): void;
}

/** Starts /usr/bin/ssh to the gateway as `login` and keeps it open (stdin stays a pipe: use `-tt` for a pty). */
export async function spawnSsh(
  h: Pick<SshGateway, 'dir' | 'freshCode' | 'sshArgs'>,
  login: string,
  o: { options?: string[]; command?: string; code?: string; timeoutMs?: number; tail?: boolean } = {},
): Promise<LiveSsh> {
  const env = await askpassEnv(h, o.code);
  const argv = [...h.sshArgs(login, o.options), ...(o.command === undefined ? [] : [o.command])];
  const child = spawn(SSH, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  let received = 0;
  const take = (b: Buffer) => {
    const t = b.toString('utf8');
    received += t.length;
    text += t;
    if (o.tail && text.length > 128 * 1024) text = text.slice(-64 * 1024);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
  const exited = new Promise<number | null>((r) =>
    child.on('close', (c) => {
      clearTimeout(timer);
      r(c);
    }),
  );
  return {
    child,
    get text() {
      return text;
    },
    get received() {
      return received;
    },
    write: (s) => void child.stdin.write(s),
    async until(re, { ms = 15_000, from = 0 } = {}) {
      const end = Date.now() + ms;
      while (!re.test(text.slice(from))) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(text.slice(-600))}`);
        if (child.exitCode !== null)
          throw new Error(`ssh exited (${child.exitCode}) before ${re}; got ${JSON.stringify(text.slice(-600))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return text;
    },
    exited,
    kill: () => void child.kill('SIGKILL'),
  };
}

/** Runs `sftp` to `login` (the target id) with `commands` on stdin; resolves when it exits. */
export async function runSftp(
  h: SshGateway,
  commands: string,
  o: { login?: string; timeoutMs?: number } = {},
): Promise<SshResult> {
  return runClient(h, SFTP, [`${o.login ?? TARGET}@127.0.0.1`], commands, o.timeoutMs);
}

/** Runs `scp from to` through the gateway (`TARGET:path` names the remote side; OpenSSH 9 speaks SFTP). */
export async function runScp(
  h: SshGateway,
  from: string,
  to: string,
  o: { timeoutMs?: number; options?: string[] } = {},
): Promise<SshResult> {
  const remote = (p: string) => p.replace(/^([\w.-]+):/, '$1@127.0.0.1:');
  return runClient(h, SCP, [...(o.options ?? []), remote(from), remote(to)], '', o.timeoutMs);
}

async function runClient(
  h: SshGateway,
  program: string,
  rest: string[],
  stdin: string,
  timeoutMs = 30_000,
): Promise<SshResult> {
  const env = await askpassEnv(h);
  const args = [
    ...vendorSshOptions({ keyPath: h.vendor.keyPath, knownHosts: h.knownHosts }),
    '-P',
    String(h.port),
    ...rest,
  ];

  const child = spawn(program, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.end(stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
