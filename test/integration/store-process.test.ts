// The store across processes: a second process is refused, and a SIGKILL mid-write loses no acknowledged update.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { build } from 'esbuild';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../gateway/store.js';

const root = resolve(import.meta.dirname, '../..');
let buildDir: string;
let childJs: string;
let dir: string;
const children: ChildProcess[] = [];

// The child opens the store and reports, holds it a while, or counts forever with 4 concurrent
// writers, printing every acknowledged value. Padding makes each write long enough to be hit.
const childSource = `
import { Store } from ${JSON.stringify(join(root, 'gateway/store.ts'))};
const [dir, mode] = process.argv.slice(2);
// 'race': start opening only on the parent's signal, so that all racers go at once.
if (mode === 'race')
  await new Promise((r) => {
    process.stdin.once('data', () => { process.stdin.destroy(); r(); });
    process.stdout.write('ready\\n');
  });
let store;
try {
  store = await Store.open({ dir });
} catch (e) {
  process.stderr.write(e.message + '\\n');
  process.exit(2);
}
if (mode === 'count') {
  await store.update((d) => { d.meta.padding = 'x'.repeat(256 * 1024); });
  const writer = async () => {
    for (;;) {
      const n = await store.update((d) => (d.meta.counter = (d.meta.counter ?? 0) + 1));
      process.stdout.write(n + '\\n');
    }
  };
  await Promise.all([writer(), writer(), writer(), writer()]);
}
process.stdout.write('opened\\n');
if (mode === 'race') await new Promise((r) => setTimeout(r, 1500));
await store.close();
`;

/** Bundled under the repo so that bare imports (lowdb, pino) resolve from its node_modules. */
beforeAll(async () => {
  const cache = join(root, 'node_modules/.cache/gatehouse-test');
  await mkdir(cache, { recursive: true });
  buildDir = await mkdtemp(join(cache, 'store-child-'));
  await writeFile(join(buildDir, 'child.ts'), childSource);
  childJs = join(buildDir, 'child.mjs');
  await build({
    entryPoints: [join(buildDir, 'child.ts')],
    outfile: childJs,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
});
afterAll(async () => {
  await rm(buildDir, { recursive: true, force: true });
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-proc-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function runChild(mode: 'open' | 'race' | 'count') {
  const child = spawn(process.execPath, [childJs, dir, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b) => {
    stdout += b;
  });
  child.stderr!.on('data', (b) => {
    stderr += b;
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => r({ code, signal })),
  );
  return { child, closed, out: () => stdout, err: () => stderr };
}

describe('across processes', () => {
  it('a second process is refused with the clear message while this one holds the store', async () => {
    const store = await Store.open({ dir });
    try {
      const run = runChild('open');
      const { code } = await run.closed;
      expect(code).toBe(2);
      expect(run.err()).toMatch(
        new RegExp(`^storage ${dir} is in use by another Gatehouse process \\(pid ${process.pid}, started `),
      );
      expect(run.err()).toContain('stop it first or use another storage.dir');
    } finally {
      await store.close();
    }
    // Once released, the other process gets in.
    const run = runChild('open');
    expect((await run.closed).code).toBe(0);
    expect(run.out()).toBe('opened\n');
  });

  it('several processes racing for a stale lock: exactly one wins', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('close', r));
    const stale = { pid: dead.pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z' };
    await writeFile(join(dir, 'db.json.lock'), JSON.stringify(stale));
    const runs = Array.from({ length: 4 }, () => runChild('race'));
    // All loaded and waiting, then all at once.
    await Promise.all(runs.map((r) => new Promise<void>((res) => r.child.stdout!.once('data', () => res()))));
    for (const r of runs) r.child.stdin!.write('go\n');
    const exits = await Promise.all(runs.map((r) => r.closed));
    expect(exits.filter((e) => e.code === 0)).toHaveLength(1);
    expect(exits.filter((e) => e.code === 2)).toHaveLength(3);
    for (const r of runs.filter((r) => r.child.exitCode === 2))
      expect(r.err()).toMatch(/^storage .* is (in use by another Gatehouse process|being (opened|taken over))/);
  });

  it('SIGKILL mid-writes: the store reopens, db.json parses, no acknowledged update is lost', async () => {
    const run = runChild('count');
    const acked = () =>
      run
        .out()
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number);
    await new Promise<void>((res, rej) => {
      const timer = setInterval(() => {
        if (acked().length >= 200) {
          clearInterval(timer);
          run.child.kill('SIGKILL');
          res();
        } else if (run.child.exitCode !== null) {
          clearInterval(timer);
          rej(new Error(`child exited early: ${run.err()}`));
        }
      }, 2);
    });
    expect((await run.closed).signal).toBe('SIGKILL');
    // Everything it printed was acknowledged (printed only after its write was durable).
    const lastAcked = Math.max(...acked());
    expect(lastAcked).toBeGreaterThanOrEqual(200);

    // What the crash left: the dead child's lock and (6 runs of 6 here) a half-written temp file;
    // plant one more so the clean-up is checked every run.
    const lock = JSON.parse(await readFile(join(dir, 'db.json.lock'), 'utf8'));
    expect(lock.pid).toBe(run.child.pid);
    await writeFile(join(dir, `db.json.tmp-${run.child.pid! + 1}`), '{"schemaVersion":1,"meta":{"cou');

    const warnings: string[] = [];
    const sink = new Writable({
      write(chunk, _e, cb) {
        warnings.push(JSON.parse(String(chunk)).msg);
        cb();
      },
    });
    const store = await Store.open({ dir, logger: pino({ level: 'warn' }, sink) });
    try {
      const counter = store.data.meta.counter as number;
      expect(counter).toBeGreaterThanOrEqual(lastAcked);
      // At most the unacknowledged in-flight tail (4 writers) can be on disk beyond the last ack.
      expect(counter).toBeLessThanOrEqual(lastAcked + 4);
      expect(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')).meta.counter).toBe(counter);
      expect(warnings).toContain('removing a stale storage lock');
      expect(warnings).toContain('removed temp files left by an interrupted write');
      expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
      expect(await store.update((d) => (d.meta.counter = counter + 1))).toBe(counter + 1);
    } finally {
      await store.close();
    }
  });
});
