// The measurements, each along one path with the real ssh client: bulk both ways, keystroke echo, setup, many sessions at once.
import { type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import type { World } from './world.js';

const MB = 1e6;

/** Follows an ssh child: its stderr tail, and `finished()` — resolves at 'close' (all output read), throws on a failure. */
function follow(child: ChildProcess, what: string) {
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const closed = once(child, 'close') as Promise<[number | null, string | null]>;
  closed.catch(() => undefined); // a spawn 'error' surfaces in finished(), never as an unhandled rejection
  return {
    stderr: () => err,
    async finished(ms = 600_000): Promise<void> {
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const [code, signal] = await closed;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`${what}: ssh ended with ${code ?? signal}; stderr: ${err.slice(-400)}`);
    },
  };
}

/** Target → client: `bytes` of terminal text, timed from the first byte to the last (setup is measured apart). */
export async function bulkDown(world: World, path: string, bytes: number): Promise<{ mbPerSec: number }> {
  const child = world.ssh(path, { command: `sh ${world.gen} ${bytes}`, stdin: 'ignore' });
  const run = follow(child, `${path} bulk down`);
  let got = 0;
  let first = 0;
  child.stdout!.on('data', (b: Buffer) => {
    if (got === 0) first = performance.now();
    got += b.length;
  });
  await run.finished();
  const seconds = (performance.now() - first) / 1000;
  if (got !== bytes) throw new Error(`${path} bulk down: received ${got} of ${bytes} bytes`);
  return { mbPerSec: bytes / MB / seconds };
}

/**
 * Target → client through the target's pty (`ssh -tt`): the browser terminal's reference, since a pty shell's
 * output rate is bounded by the pty itself. The pty turns each LF into CRLF, so the rate counts what arrived.
 */
export async function ptyDown(world: World, path: string, bytes: number): Promise<{ mbPerSec: number }> {
  const child = world.ssh(path, { tty: true, command: `sh ${world.gen} ${bytes}` });
  const run = follow(child, `${path} pty bulk down`);
  let got = 0;
  let first = 0;
  child.stdout!.on('data', (b: Buffer) => {
    if (got === 0) first = performance.now();
    got += b.length;
  });
  await run.finished();
  if (got < bytes) throw new Error(`${path} pty bulk down: received ${got} of at least ${bytes} bytes`);
  return { mbPerSec: got / MB / ((performance.now() - first) / 1000) };
}

/** Client → target: `bytes` from `file` into `wc -c`, timed from the target's "ready" to the count arriving. */
export async function bulkUp(world: World, path: string, file: string, bytes: number): Promise<{ mbPerSec: number }> {
  const child = world.ssh(path, { command: 'printf R; exec wc -c' });
  const run = follow(child, `${path} bulk up`);
  let out = '';
  let start = 0;
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    if (start === 0 && out.startsWith('R')) {
      start = performance.now();
      createReadStream(file).pipe(child.stdin!);
    }
  });
  await run.finished();
  const seconds = (performance.now() - start) / 1000;
  const counted = Number(out.slice(1).trim());
  if (counted !== bytes)
    throw new Error(`${path} bulk up: the target counted ${out.slice(1).trim()} of ${bytes} bytes`);
  return { mbPerSec: bytes / MB / seconds };
}

/** Terminal output as text, with a wait for a pattern (CSI/OSC sequences stripped for matching). */
class Screen {
  text = '';
  private waiters: Array<() => void> = [];
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (b: Buffer) => {
      this.text += b.toString('latin1');
      if (this.text.length > 1 << 16) this.text = this.text.slice(-(1 << 15));
      for (const w of this.waiters.splice(0)) w();
    });
  }
  plain(): string {
    return this.text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, '');
  }
  async until(test: (s: Screen) => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!test(this)) {
      if (Date.now() > end)
        throw new Error(`timed out waiting for ${what}; screen: ${JSON.stringify(this.plain().slice(-300))}`);
      if (this.child.exitCode !== null)
        throw new Error(`ssh exited (${this.child.exitCode}) while waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

/** A shell prompt at the end of the screen: `user@host:~# ` or `$ `. */
const atPrompt = (s: Screen) => /[#$] $/.test(s.plain());

/** An interactive login (pty + shell) along `path`, resolved once the first prompt shows. */
export async function openShell(
  world: World,
  path: string,
  ms = 60_000,
): Promise<{ child: ChildProcess; screen: Screen; ms: number; close(): Promise<void> }> {
  const t0 = performance.now();
  const child = world.ssh(path, { tty: true });
  const run = follow(child, `${path} shell`);
  const screen = new Screen(child);
  try {
    await screen.until(atPrompt, ms, `the first prompt on ${path}`);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}; stderr: ${run.stderr().slice(-400)}`);
  }
  const setupMs = performance.now() - t0;
  return {
    child,
    screen,
    ms: setupMs,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = once(child, 'close');
      child.kill('SIGTERM');
      await closed;
    },
  };
}

/** Types `command` + Enter at the prompt and waits for the next prompt. */
async function runAtPrompt(screen: Screen, command: string, ms: number): Promise<void> {
  screen.text = '';
  screen.child.stdin!.write(`${command}\r`);
  await screen.until((s) => s.plain().includes(command) && atPrompt(s), ms, `the prompt after ${command}`);
}

/** Connect → first prompt, `samples` times one after another; the median in ms. */
export async function setupTime(
  world: World,
  path: string,
  samples: number,
): Promise<{ medianMs: number; all: number[] }> {
  const all: number[] = [];
  for (let i = 0; i < samples; i++) {
    const s = await openShell(world, path);
    all.push(s.ms);
    await s.close();
  }
  return { medianMs: percentile(all, 50), all };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

/** Round trips typed before any is counted: the shell and the pipes settle. */
const SETTLE = 20;

export interface KeystrokeOptions {
  /** Round trips typed first and not counted (at least SETTLE); their p99, past the first SETTLE, is `warmupP99`. */
  warmup?: number;
  /** Told when the first byte is about to go and when the last came back (the gateway's probe times the same keys). */
  typing?: { started(): Promise<void>; ended(): Promise<void> };
  /** A pause before each counted key, as a typist leaves (0: each key goes as soon as the last one's echo is back). */
  paceMs?: number;
}

/**
 * Keystroke round trip through a pty: the target runs `stty raw -echo; cat`, so each byte typed comes
 * back as exactly one byte. One byte in flight at a time.
 */
export async function keystrokes(
  world: World,
  path: string,
  n: number,
  o: KeystrokeOptions = {},
): Promise<{ p50: number; p90: number; p99: number; warmupP99?: number }> {
  const { warmup = SETTLE, typing, paceMs = 0 } = o;
  const shell = await openShell(world, path);
  try {
    const { child, screen } = shell;
    child.stdin!.write("stty raw -echo; echo READ''Y; exec cat\r");
    await screen.until((s) => /READY\r?\n/.test(s.plain()), 30_000, 'cat to start'); // raw mode: no \r added
    await new Promise((r) => setTimeout(r, 300));
    const rtts: number[] = [];
    const early: number[] = [];
    let expect = '';
    let arrived: (() => void) | undefined;
    child.stdout!.on('data', (b: Buffer) => {
      if (expect && b.includes(expect)) {
        expect = '';
        arrived?.();
      }
    });
    await typing?.started();
    for (let i = 0; i < n + warmup; i++) {
      const ch = String.fromCharCode(97 + (i % 26));
      const back = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${path}: keystroke ${i} not echoed within 10 s`)), 10_000);
        arrived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (paceMs > 0 && i >= warmup) await new Promise((r) => setTimeout(r, paceMs));
      expect = ch;
      const t0 = performance.now();
      child.stdin!.write(ch);
      await back;
      const rtt = performance.now() - t0;
      if (i >= warmup) rtts.push(rtt);
      else if (i >= SETTLE) early.push(rtt);
    }
    await typing?.ended();
    return {
      p50: percentile(rtts, 50),
      p90: percentile(rtts, 90),
      p99: percentile(rtts, 99),
      ...(early.length >= 100 ? { warmupP99: percentile(early, 99) } : {}),
    };
  } finally {
    await shell.close();
  }
}

export interface Streamed {
  tag: string;
  bytes: number;
  sha256: string;
}

/**
 * `n` sessions at once, each streaming `bytesEach` of terminal text. All connect first and wait on
 * stdin; then every one is told to go, and the aggregate rate is total bytes / time until the last ends.
 */
export async function streaming(
  world: World,
  path: string,
  n: number,
  bytesEach: number,
  tagPrefix: string,
): Promise<{ mbPerSec: number; sessions: Streamed[] }> {
  const runs = Array.from({ length: n }, (_, i) => {
    const tag = `${tagPrefix}-${i}`;
    // The leading no-op names the session in the recording's exec marker (the command text).
    const child = world.ssh(path, { command: `: ${tag}; printf R; read go; sh ${world.gen} ${bytesEach}` });
    const run = follow(child, `${path} stream ${tag}`);
    const hash = createHash('sha256');
    let bytes = 0;
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('close', (code) =>
        reject(new Error(`${path} stream ${i}: ssh exited (${code}) before it was ready; ${run.stderr()}`)),
      );
    });
    child.stdout!.on('data', (b: Buffer) => {
      hash.update(b);
      bytes += b.length;
    });
    return { tag, child, run, ready, hash, bytes: () => bytes };
  });
  try {
    await Promise.all(runs.map((r) => r.ready));
  } catch (e) {
    for (const r of runs) r.child.kill('SIGKILL');
    throw e;
  }
  const t0 = performance.now();
  for (const r of runs) r.child.stdin!.end('go\n');
  await Promise.all(runs.map((r) => r.run.finished()));
  const seconds = (performance.now() - t0) / 1000;
  const sessions = runs.map((r) => ({ tag: r.tag, bytes: r.bytes(), sha256: r.hash.digest('hex') }));
  const short = sessions.filter((s) => s.bytes !== bytesEach + 1);
  if (short.length > 0) throw new Error(`${path} streaming: ${short.length} sessions received the wrong byte count`);
  return { mbPerSec: (n * bytesEach) / MB / seconds, sessions };
}

/** Opens `n` interactive sessions (`parallel` handshakes at a time) and leaves them idle at their prompt. */
/** Opens `n` shells (`parallel` at a time); with `command`, each runs it once and is back at its prompt. */
export async function idleSessions(world: World, path: string, n: number, parallel = 10, command?: string) {
  const open: Array<Awaited<ReturnType<typeof openShell>>> = [];
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = next++; i < n; i = next++) {
        try {
          const s = await openShell(world, path, 120_000);
          open.push(s);
          if (command) await runAtPrompt(s.screen, command, 120_000);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    }),
  );
  return {
    open,
    failures,
    async closeAll() {
      await Promise.all(open.map((s) => s.close()));
    },
  };
}
