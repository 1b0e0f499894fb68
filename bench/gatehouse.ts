// The bench's side of a Gatehouse child: starts it, hands each ssh login its own vendor (key + TOTP code), reads its memory.
import { type ChildProcess, fork } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSecret, generateSync } from 'otplib';
import { packageRoot } from '../gateway/paths.js';
import type { ChildReady, ChildSpec } from './gatehouse-spec.js';
import type { MemoryParts } from './gateway-memory.js';
import type { KeysProbeResult } from './keys-probe.js';
import { keygen } from './openssh.js';
import { rssKiB } from './proc.js';

/** The askpass program ssh runs for `Verification code:`: the code the bench put in its environment. */
const ASKPASS = '#!/bin/sh\nprintf \'%s\\n\' "$GH_BENCH_TOTP"\n';

export interface Vendor {
  keyPath: string;
  totpSecret: string;
}

export interface GatehouseChild {
  /** ssh_config Host alias the bench writes for this gateway. */
  alias: string;
  pid: number;
  sshPort: number;
  hostKeyPublic: string;
  httpUrl: string;
  storageDir: string;
  recording: boolean;
  seedMs: number;
  /** Origin and grant of vendor 0's browser for /ws/ssh. */
  browser: ChildReady['browser'];
  /**
   * Signs vendor 0's browser in (a fresh, stepped-up web session) and returns its cookie. Why on demand: a web
   * session made at start idles out before the browser phase of a long run.
   */
  signIn(): Promise<string>;
  /**
   * The next unused vendor, with the environment that makes ssh answer the TOTP prompt. Why one vendor
   * per login: a TOTP time step is accepted once per user, and the scale cases log in hundreds at once.
   */
  login(): { keyPath: string; env: NodeJS.ProcessEnv };
  /** Gateway RSS in KiB after a full GC in the child (it runs with --expose-gc). */
  rssAfterGc(): Promise<number>;
  /** The gateway's memory, V8's parts and the kernel's, after two full collections (gateway-memory.ts). */
  memoryAfterGc(): Promise<MemoryParts>;
  /** Writes a V8 heap snapshot of the gateway to `path` (investigation: diffing what sessions hold). */
  heapSnapshot(path: string): Promise<string>;
  /**
   * Times keystrokes inside the gateway (keys-probe.ts): arm before the session connects, start and stop around
   * the typing. Why inside: wall-clock round trips on a shared box mostly measure the other processes' scheduling.
   */
  keysProbe(): Promise<{ start(): Promise<void>; stop(): Promise<KeysProbeResult> }>;
  stop(): Promise<void>;
}

export interface GatehouseOptions {
  alias: string;
  dir: string;
  target: ChildSpec['target'];
  vendors: number;
  recording: boolean;
  /** Write a V8 CPU profile of the gateway (from ready to stop) into this folder. */
  cpuProfileDir?: string;
}

/** `count` vendor key pairs and TOTP secrets, made with ssh-keygen a few at a time. */
async function makeVendors(dir: string, count: number): Promise<Array<Vendor & { publicKey: string }>> {
  await mkdir(dir, { recursive: true });
  const out: Array<Vendor & { publicKey: string }> = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < count; i = next++) {
        const keyPath = join(dir, `vendor${i}_ed25519`);
        out[i] = {
          keyPath,
          publicKey: await keygen(keyPath, `bench-vendor-${i}`),
          totpSecret: generateSecret({ length: 20 }),
        };
      }
    }),
  );
  return out;
}

export async function startGatehouse(o: GatehouseOptions): Promise<GatehouseChild> {
  const vendors = await makeVendors(join(o.dir, 'vendors'), o.vendors);
  const askpass = join(o.dir, 'askpass.sh');
  await writeFile(askpass, ASKPASS);
  await chmod(askpass, 0o700);
  const storageDir = join(o.dir, 'storage');
  // GH_BENCH_GATEWAY_NODE_ARGS: extra node options for the gateway children when investigating (e.g. --trace-gc).
  const execArgv = ['--expose-gc', ...(process.env.GH_BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
  const child: ChildProcess = fork(join(packageRoot, 'dist', 'bench', 'gatehouse-child.js'), [], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const spec: ChildSpec = {
    storageDir,
    target: o.target,
    vendors: vendors.map((v) => ({ publicKey: v.publicKey, totpSecret: v.totpSecret })),
    recording: o.recording,
    ...(o.cpuProfileDir ? { cpuProfilePath: join(o.cpuProfileDir, `${o.alias}.cpuprofile`) } : {}),
  };
  child.send(spec);
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bench gateway did not start within 120 s')), 120_000);
    child.once('exit', (code) => reject(new Error(`the bench gateway exited during start (code ${code})`)));
    child.once('message', (m: ChildReady) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
  let used = 0;
  /** Sends `cmd` and resolves with the child's first answer that carries `key` (rejects on `keysFailed`). */
  const ask = <T>(cmd: string, key: string, extra: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const on = (m: Record<string, unknown>) => {
        if (!(key in m) && !('keysFailed' in m)) return;
        child.off('message', on);
        if (key in m) resolve(m[key] as T);
        else reject(new Error(`the bench gateway's keystroke probe: ${String(m.keysFailed)}`));
      };
      child.on('message', on);
      child.send({ cmd, ...extra });
    });
  return {
    alias: o.alias,
    pid: child.pid!,
    sshPort: ready.sshPort,
    hostKeyPublic: ready.hostKeyPublic,
    httpUrl: ready.httpUrl,
    storageDir,
    recording: o.recording,
    seedMs: ready.seedMs,
    browser: ready.browser,
    login() {
      const v = vendors[used++];
      if (!v) throw new Error(`the bench gateway ran out of vendors (${vendors.length}): raise its pool`);
      return {
        keyPath: v.keyPath,
        env: {
          SSH_ASKPASS: askpass,
          SSH_ASKPASS_REQUIRE: 'force',
          GH_BENCH_TOTP: generateSync({ secret: v.totpSecret }),
        },
      };
    },
    signIn() {
      return new Promise<string>((resolve, reject) => {
        const on = (m: { signedIn?: string; signInFailed?: string }) => {
          if (m.signedIn === undefined && m.signInFailed === undefined) return;
          child.off('message', on);
          if (m.signedIn !== undefined) resolve(m.signedIn);
          else reject(new Error(`the bench gateway could not sign the browser in: ${m.signInFailed}`));
        };
        child.on('message', on);
        child.send({ cmd: 'sign-in' });
      });
    },
    async rssAfterGc() {
      await new Promise<void>((resolve) => {
        const on = (m: { gcDone?: boolean }) => {
          if (!m.gcDone) return;
          child.off('message', on);
          resolve();
        };
        child.on('message', on);
        child.send({ cmd: 'gc' });
      });
      return rssKiB(child.pid!);
    },
    memoryAfterGc: () => ask<MemoryParts>('mem', 'mem'),
    heapSnapshot: (path: string) => ask<string>('heap-snapshot', 'heapSnapshot', { path }),
    async keysProbe() {
      await ask<boolean>('keys-arm', 'keysArmed');
      return {
        start: async () => void (await ask<boolean>('keys-start', 'keysStarted')),
        stop: () => ask<KeysProbeResult>('keys-stop', 'keys'),
      };
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ cmd: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      process.removeListener('exit', kill);
    },
  };
}
