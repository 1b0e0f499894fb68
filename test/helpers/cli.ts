// Runs the built `gatehouse` CLI as a child process (npm test builds dist/ first).
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../gateway/paths.js';

export const gatehouseBin = join(packageRoot, 'bin', 'gatehouse.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, bounded by `timeoutMs`. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  return new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, [gatehouseBin, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running command and resolves once its stdout matches `ready`. */
export function startCli(
  args: string[],
  ready: RegExp,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{
  child: ChildProcess;
  match: RegExpMatchArray;
  output: () => string;
  exited: Promise<CliResult>;
}> {
  const child = spawn(process.execPath, [gatehouseBin, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${args.join(' ')} never became ready\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      const match = stdout.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, output: () => stdout + stderr, exited });
      }
    });
    exited.then((r) => {
      clearTimeout(timer);
      reject(new Error(`gatehouse ${args.join(' ')} exited with ${r.code}\n${r.stdout}\n${r.stderr}`));
    });
  });
}
