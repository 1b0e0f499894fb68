// A measurement, not a test of speed (it asserts no time): how much bulk recordings delay the gateway's other
// thread-pool work. K = 0, 1, 2, 4 real `ssh` sessions stream `base64 /dev/zero` (recorded), and meanwhile the
// test times, paced, in-process: an audit append (written and fsync'd on the pool before it resolves), a bare
// fs.stat (one trivial pool job), a 200-byte write + fdatasync of a file of its own (an append's disk work) and
// a setImmediate (one loop turn, no pool: what the CPU alone adds). Run it as is and with UV_THREADPOOL_SIZE=16
// (the vitest fork inherits it): what the larger pool does not take away is not the pool's.
// Figures and reading: docs/performance.md (Bulk recordings and the thread pool).
//   npx vitest run --config vitest.measure.config.ts test/measure/pool-starvation.test.ts
//   UV_THREADPOOL_SIZE=16 npx vitest run --config vitest.measure.config.ts test/measure/pool-starvation.test.ts
// GH_MEASURE_REPEATS=n runs the K series n times (default 3).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readdir, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSH } from '../helpers/sshd.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

const ROUNDS = 300;
const REPEATS = Number(process.env.GH_MEASURE_REPEATS ?? 3);
const KS = [0, 1, 2, 4];

let h: SshGateway;
beforeAll(async () => {
  h = await startSshGateway();
  await h.grant();
}, 120_000);
/** Every bulk client started, killed at the end even if a phase failed part way. */
const started = new Set<ChildProcess>();
afterAll(async () => {
  for (const c of started) c.kill('SIGKILL');
  await h?.close();
}, 60_000);

/** One bulk session through the real ssh client, its output thrown away by the kernel (not by this process). */
async function bulk(): Promise<ChildProcess> {
  const codeFile = join(h.dir.path, `code-${randomBytes(4).toString('hex')}`);
  await writeFile(codeFile, `${h.freshCode()}\n`);
  const env = {
    PATH: process.env.PATH,
    HOME: h.dir.path,
    SSH_ASKPASS: join(h.dir.path, 'askpass.sh'),
    SSH_ASKPASS_REQUIRE: 'force',
    GH_CODE_FILE: codeFile,
    GH_ASKPASS_LOG: join(h.dir.path, 'askpass.log'),
  };
  const child = spawn(SSH, [...h.sshArgs(TARGET), 'base64 /dev/zero'], { env, stdio: ['ignore', 'ignore', 'ignore'] });
  started.add(child);
  return child;
}

const live = () => h.gw.liveSessions.list().length;
const until = async (ok: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!ok()) throw new Error(`timed out: ${what}`);
};

/** Size of every recording under the test's folder, by path. */
async function recordings(dir = h.dir.path, into = new Map<string, number>()): Promise<Map<string, number>> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await recordings(p, into);
    else if (e.name.endsWith('.cast')) into.set(p, (await stat(p).catch(() => ({ size: 0 }))).size);
  }
  return into;
}
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/** Waits until `k` recordings grow within half a second: a live session is not yet streaming (login, exec start). */
async function streaming(k: number): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const a = await recordings();
    await new Promise((r) => setTimeout(r, 500));
    const b = await recordings();
    if ([...b].filter(([p, n]) => n > (a.get(p) ?? 0)).length >= k) return;
  }
  throw new Error(`timed out: ${k} recordings streaming`);
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

describe('thread-pool starvation by bulk recordings', () => {
  it('prints audit-append, fs.stat and loop-turn latency p50/p99 for K concurrent bulk sessions', async () => {
    const rows: string[] = [];
    for (let rep = 1; rep <= REPEATS; rep++)
      for (const k of KS) {
        const kids: ChildProcess[] = [];
        for (let i = 0; i < k; i++) {
          kids.push(await bulk()); // one login at a time: each takes the next TOTP step
          await until(() => live() >= i + 1, `bulk session ${i + 1} live`);
        }
        await streaming(k);
        const before = total(await recordings());
        const loop = monitorEventLoopDelay({ resolution: 5 });
        loop.enable();
        const t0 = performance.now();
        const appendMs: number[] = [];
        const statMs: number[] = [];
        const turnMs: number[] = [];
        const syncMs: number[] = [];
        const probe = await open(join(h.dir.path, 'probe'), 'a');
        for (let i = 0; i < ROUNDS; i++) {
          let t = performance.now();
          await h.gw.audit.append({ type: 'config.loaded', actor: { kind: 'system', id: 'cli' }, data: { i } });
          appendMs.push(performance.now() - t);
          t = performance.now();
          await stat(h.dir.path);
          statMs.push(performance.now() - t);
          t = performance.now();
          await probe.write('x'.repeat(200)); // an append's disk work without its CPU: the disk's share
          await probe.datasync();
          syncMs.push(performance.now() - t);
          t = performance.now();
          await new Promise((r) => setImmediate(r)); // the loop alone, no pool: what stat's latency owes to CPU
          turnMs.push(performance.now() - t);
          await new Promise((r) => setTimeout(r, 10)); // paced, as privileged actions come: the probe is no load
        }
        const secs = (performance.now() - t0) / 1000;
        await probe.close();
        loop.disable();
        const mbs = (total(await recordings()) - before) / 1e6 / secs;
        const alive = kids.filter((c) => c.exitCode === null && c.signalCode === null).length;
        for (const c of kids) c.kill('SIGKILL');
        await until(() => live() === 0, 'bulk sessions ended');
        const f = (x: number) => x.toFixed(2);
        rows.push(
          `pool=${process.env.UV_THREADPOOL_SIZE ?? 4} rep ${rep} K=${k}: append p50 ${f(pct(appendMs, 50))} p99 ${f(pct(appendMs, 99))} ms; ` +
            `stat p50 ${f(pct(statMs, 50))} p99 ${f(pct(statMs, 99))} ms; write+fdatasync p50 ${f(pct(syncMs, 50))} p99 ${f(pct(syncMs, 99))} ms; setImmediate p50 ${f(pct(turnMs, 50))} p99 ${f(pct(turnMs, 99))} ms; loop delay p50 ${f(loop.percentile(50) / 1e6)} p99 ${f(loop.percentile(99) / 1e6)} ms; ` +
            `recorded ${mbs.toFixed(0)} MB/s by ${alive} live; load ${loadavg()[0]!.toFixed(2)}`,
        );
        console.log(rows.at(-1));
        expect(appendMs).toHaveLength(ROUNDS);
      }
    console.log(rows.join('\n'));
  }, 600_000);
});
