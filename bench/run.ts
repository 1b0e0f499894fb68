// `npm run bench`: Gatehouse side by side with OpenSSH (direct, ProxyJump) plus the audit and recorder suites;
// writes bench/results/latest.{md,json}, keeping the previous result beside it for comparison.
//   --quick          CI-sized inputs
//   --only=a,b       run only these phases (route setup keys idle down up stream norec browser audit syslog recorder store conduit;
//                    hold — 1,000 sessions at once — runs only when named here);
//                    prints, does not touch bench/results
//   --profile        V8 CPU profiles of the gateway, recording on and off → bench/results/profile.md
//   --store=e:n      the store phase on engine e (lowdb, postgres) at n sessions only (development; with --only=store)
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../gateway/paths.js';
import { version } from '../gateway/version.js';
import { benchAudit } from './audit.js';
import { benchAuditSyslog } from './audit-syslog.js';
import { benchConduit } from './conduit.js';
import { profileComparison, profileMarkdown } from './profile.js';
import { benchRecorder } from './recorder.js';
import { benchStore } from './store.js';
import {
  benchSshPaths,
  EXTRA_PHASES,
  FULL,
  type PathRow,
  type Phase,
  PHASES,
  QUICK,
  type SshBenchResult,
} from './ssh-paths.js';

interface Row {
  suite: string;
  measure: string;
  value: number;
  unit: string;
  target?: string;
  met?: boolean;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const profile = args.includes('--profile');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const want = (phase: string) => !only || only.includes(phase);
const storeCase = args
  .find((a) => a.startsWith('--store='))
  ?.slice('--store='.length)
  .split(':');
const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

/** `ssh -V` prints to stderr. */
const openSshVersion = () => spawnSync('/usr/bin/ssh', ['-V'], { encoding: 'utf8' }).stderr.trim() || 'OpenSSH ?';

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  if (unit === 'ms' || unit === 'ms/MB' || unit === '×') return v < 10 ? v.toFixed(2) : v.toFixed(1);
  if (unit === '%') return v.toFixed(1);
  if (unit === 'sessions') return String(Math.round(v));
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(3);
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 || Number.isNaN(a) || Number.isNaN(b) ? '—' : `×${(a / b).toFixed(2)}`;
const met = (m: boolean | undefined) => (m === undefined ? '' : m ? 'yes' : '**no**');

function pathTable(rows: PathRow[]): string[] {
  return [
    '| measure | direct | ProxyJump | Gatehouse | unit | Gatehouse ÷ direct | Gatehouse ÷ ProxyJump | target | met |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |',
    ...rows.map((r) => {
      const ratios =
        r.unit === '%' || r.unit === 'sessions' || r.unit === '×'
          ? ['', '']
          : [ratio(r.gatehouse, r.direct), ratio(r.gatehouse, r.proxyjump)];
      const measure = r.note ? `${r.measure} <br><sub>${r.note}</sub>` : r.measure;
      return `| ${measure} | ${fmt(r.direct, r.unit)} | ${fmt(r.proxyjump, r.unit)} | ${fmt(r.gatehouse, r.unit)} | ${r.unit} | ${ratios.join(' | ')} | ${r.target ?? ''} | ${met(r.met)} |`;
    }),
  ];
}

/** Every row that has a target, in one table: the figure (Gatehouse's, with ProxyJump's beside it), the target, met or not. */
function targetTable(paths: PathRow[], rows: Row[]): string[] {
  const lines = paths
    .filter((r) => r.target)
    .map((r) => {
      const pj =
        r.proxyjump !== undefined && r.unit !== '%' && r.unit !== '×'
          ? ` (ProxyJump ${fmt(r.proxyjump, r.unit)}, ${ratio(r.gatehouse, r.proxyjump)})`
          : '';
      return `| ${r.measure} | ${fmt(r.gatehouse, r.unit)} ${r.unit}${pj} | ${r.target} | ${met(r.met)} |`;
    });
  for (const r of rows.filter((x) => x.target))
    lines.push(`| ${r.suite}: ${r.measure} | ${fmt(r.value, r.unit)} ${r.unit} | ${r.target} | ${met(r.met)} |`);
  if (lines.length === 0) return [];
  return ['## Targets', '', '| measure | Gatehouse | target | met |', '| --- | --- | --- | --- |', ...lines, ''];
}

/** The event-loop hold any single state update may cost: lowdb at 10,000 sessions, PostgreSQL at 100,000. */
function storeTarget(engine: 'lowdb' | 'postgres', sessions: number, kind: string): number | undefined {
  if (kind === 'command' || kind === 'version-check') return undefined;
  if (engine === 'lowdb' && sessions === 10_000) return 20;
  if (engine === 'postgres' && sessions === 100_000) return 5;
  return undefined;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const rows: Row[] = [];
  let ssh: SshBenchResult | undefined;
  const profileDir = profile ? await mkdtemp(join(tmpdir(), 'gatehouse-bench-prof-')) : undefined;

  const phases = [...PHASES.filter((p) => want(p)), ...EXTRA_PHASES.filter((p) => only?.includes(p))] as Phase[];
  if (phases.length > 0) {
    ssh = await benchSshPaths({
      sizes: quick ? QUICK : FULL,
      phases,
      progress,
      ...(profileDir ? { cpuProfileDir: profileDir } : {}),
    });
  }

  if (want('audit')) {
    progress(`audit log (${quick ? 5_000 : 20_000} events, 32 writers)…`);
    const auditDir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-audit-'));
    const audit = await benchAudit({ dir: auditDir, events: quick ? 5_000 : 20_000, writers: 32 }).finally(() =>
      rm(auditDir, { recursive: true, force: true }),
    );
    rows.push(
      {
        suite: 'audit',
        measure: 'append, 32 writers, fsync',
        value: audit.appendPerSec,
        unit: 'events/s',
        target: '>= 5,000',
      },
      {
        suite: 'audit',
        measure: 'fsyncs per event',
        value: audit.fsyncsPerEvent,
        unit: '',
        target: '< 1 (group commit)',
      },
      { suite: 'audit', measure: 'verify, cold (one CLI run)', value: audit.verifyPerSec, unit: 'events/s' },
      {
        suite: 'audit',
        measure: 'verify, warm',
        value: audit.verifyWarmPerSec,
        unit: 'events/s',
        target: '>= 200,000',
      },
    );
  }
  if (want('syslog')) {
    progress(
      `audit log with the SIEM stream on and off (${quick ? 5_000 : 20_000} events, 32 writers; ${quick ? 100 : 300} approvals)…`,
    );
    const s = await benchAuditSyslog({ events: quick ? 5_000 : 20_000, approvals: quick ? 100 : 300 });
    rows.push(
      {
        suite: 'syslog',
        measure: 'append, 32 writers, fsync, stream off',
        value: s.appendPerSec.off,
        unit: 'events/s',
      },
      {
        suite: 'syslog',
        measure: 'append, 32 writers, fsync, stream on',
        value: s.appendPerSec.on,
        unit: 'events/s',
        target: '>= 5,000',
      },
      {
        suite: 'syslog',
        measure: 'delivered to the receiver (from first append to last arrival)',
        value: s.deliveredPerSec,
        unit: 'events/s',
      },
      { suite: 'syslog', measure: 'approve (broker), mean, stream off', value: s.approveMs.off.mean, unit: 'ms' },
      {
        suite: 'syslog',
        measure: 'approve (broker), mean, stream on',
        value: s.approveMs.on.mean,
        unit: 'ms',
        target: 'unchanged within noise',
      },
      { suite: 'syslog', measure: 'approve (broker), p95, stream off', value: s.approveMs.off.p95, unit: 'ms' },
      { suite: 'syslog', measure: 'approve (broker), p95, stream on', value: s.approveMs.on.p95, unit: 'ms' },
    );
  }
  if (want('recorder')) {
    progress(`recorder (${quick ? 16 : 128} MiB per case)…`);
    const rec = await benchRecorder({ megabytes: quick ? 16 : 128 });
    for (const c of rec.cases) {
      const end: Row = { suite: 'recorder', measure: `${c.name}, end to end`, value: c.mbPerSec, unit: 'MB/s' };
      if (c.name === 'binary+NUL → disk') Object.assign(end, { target: '>= 200', met: c.mbPerSec >= 200 });
      rows.push(
        end,
        { suite: 'recorder', measure: `${c.name}, hot path`, value: c.hotPathMBPerSec, unit: 'MB/s' },
        {
          suite: 'recorder',
          measure: `${c.name}, per CPU-second (process user + system)`,
          value: c.cpuMBPerSec,
          unit: 'MB/s',
        },
      );
      if (c.name === 'text → disk') {
        const r = c.mbPerSec / c.hotPathMBPerSec;
        rows.push({
          suite: 'recorder',
          measure: 'text → disk: end to end ÷ hot path',
          value: r,
          unit: '×',
          target: '>= 0.8',
          met: r >= 0.8,
        });
      }
      // The same text, fed as the gateway's relay feeds it (bench/recorder.ts, RELAY_FEED): shown beside the row
      // above, never instead of it (the suite's feed, 512 KiB a turn, is the harder one for the recorder).
      if (c.name === 'text → disk, fed as a relay')
        rows.push({
          suite: 'recorder',
          measure: 'text → disk, fed as a relay (32 KiB chunks, 64 KiB a turn): end to end ÷ hot path',
          value: c.mbPerSec / c.hotPathMBPerSec,
          unit: '×',
        });
    }
    for (const [kind, cost, escaper] of [
      ['text', rec.textCost, 'WebAssembly SIMD'],
      ['binary+NUL', rec.binaryCost, 'WebAssembly, the checked path: one byte a step'],
    ] as const) {
      rows.push(
        {
          suite: 'recorder',
          measure: `${kind}, CPU per MB alone: JSON escaping (${escaper})`,
          value: cost.escapeMs,
          unit: 'ms/MB',
        },
        {
          suite: 'recorder',
          measure: `${kind}, CPU per MB alone: SHA-256 of the file bytes`,
          value: cost.hashMs,
          unit: 'ms/MB',
        },
        {
          suite: 'recorder',
          measure: `${kind}, CPU per MB alone: pwrite into the page cache, 256 KiB at a time`,
          value: cost.writeMs,
          unit: 'ms/MB',
        },
        {
          suite: 'recorder',
          measure: `${kind}, CPU per MB alone: fdatasync (writeback, charged to the process)`,
          value: cost.syncMs,
          unit: 'ms/MB',
        },
        // Escaping and hashing run on the thread that calls output() (the relay's, in the gateway); the writes run
        // in the thread pool. So the hot path cannot beat 1 / (escape + hash), whatever the disk does.
        {
          suite: 'recorder',
          measure: `${kind}: ceiling the calling thread sets (1 ÷ (escaping + SHA-256))`,
          value: 1000 / (cost.escapeMs + cost.hashMs),
          unit: 'MB/s',
        },
      );
    }
    // What the disk bounds in the '→ disk' cases. A file is bigger than its input (text: each ESC is six bytes,
    // \u001b, each CR or LF two; binary: each NUL six, each stray byte ≥ 0x80 three), so end to end cannot beat the
    // disk's rate for a file that size ÷ file bytes per input byte. And the seal's fsync comes after the last output:
    // its wait for the writeback adds to end to end, never to the hot path.
    for (const c of rec.cases.filter((k) => k.name.endsWith('→ disk'))) {
      const kind = c.name.slice(0, -' → disk'.length);
      const disk = rec.diskMBPerSec[c.name] ?? 0;
      const growth = c.fileMB / c.inputMB;
      rows.push(
        { suite: 'recorder', measure: `${kind}: file bytes per input byte`, value: growth, unit: '×' },
        { suite: 'recorder', measure: `disk alone: ${c.fileMB} MB written + fdatasync`, value: disk, unit: 'MB/s' },
        {
          suite: 'recorder',
          measure: `${c.name}: ceiling the disk sets (disk alone ÷ file growth)`,
          value: disk / growth,
          unit: 'MB/s',
        },
        { suite: 'recorder', measure: `${c.name}: the seal (queued writes + fsync)`, value: c.sealMs, unit: 'ms' },
      );
      if (kind === 'text') {
        const withoutSeal = c.inputMB / (c.inputMB / c.mbPerSec - c.sealMs / 1000);
        rows.push({
          suite: 'recorder',
          measure: 'text → disk: end to end without the seal ÷ hot path',
          value: withoutSeal / c.hotPathMBPerSec,
          unit: '×',
        });
      }
    }
  }

  if (want('store')) {
    // lowdb keeps the recent state only (older history moves to history/*.jsonl), so 10,000 is its size to hold;
    // PostgreSQL keeps everything, so it is held to 100,000.
    const sizes: Record<'lowdb' | 'postgres', number[]> = {
      lowdb: quick ? [1_000] : [10_000],
      postgres: quick ? [1_000] : [10_000, 100_000],
    };
    if (storeCase) {
      const [engine, n] = storeCase;
      if ((engine !== 'lowdb' && engine !== 'postgres') || !(Number(n) > 0))
        throw new Error('--store=lowdb:N or postgres:N');
      for (const e of ['lowdb', 'postgres'] as const) sizes[e] = e === engine ? [Number(n)] : [];
    }
    for (const engine of ['lowdb', 'postgres'] as const)
      for (const sessions of sizes[engine]) {
        const size = { sessions, commands: quick ? 20_000 : 200_000 };
        progress(`state store on ${engine} (${size.sessions} sessions and requests, ${size.commands} commands)…`);
        for (const c of await benchStore({ ...size, engine })) {
          rows.push({
            suite: 'store',
            measure: `${c.name}, at ${size.sessions} sessions`,
            value: c.msPerOp,
            unit: 'ms',
          });
          const target = storeTarget(engine, size.sessions, c.kind);
          rows.push({
            suite: 'store',
            measure: `${c.name} at ${size.sessions}: event loop held by one (median of runs)`,
            value: c.heldMs,
            unit: 'ms',
          });
          rows.push({
            suite: 'store',
            measure: `${c.name} at ${size.sessions}: event loop held by any single one (worst of runs)`,
            value: c.maxBlockMs,
            unit: 'ms',
            ...(target !== undefined && { target: `≤ ${target} ms`, met: c.maxBlockMs <= target }),
          });
          // What the worst run was made of: the loop's own work, the collector, or the machine's other processes.
          for (const [what, value] of [
            ["the loop's thread on a CPU (GC included)", c.worstRanMs],
            ['GC pauses', c.worstGcMs],
            ["the loop's thread waiting for a CPU (the machine's other load)", c.worstWaitedMs],
          ] as const)
            rows.push({
              suite: 'store',
              measure: `${c.name} at ${size.sessions}: in that worst run, ${what}`,
              value,
              unit: 'ms',
            });
        }
      }
  }

  if (want('conduit')) {
    const size = quick ? { polls: 2_000, pipelined: 10_000 } : { polls: 10_000, pipelined: 100_000 };
    progress(`PLC conduit (${size.polls} polls, ${size.pipelined} pipelined writes, inspection off and on)…`);
    for (const c of await benchConduit(size)) {
      rows.push({ suite: 'conduit', measure: `Modbus poll round trip p50, ${c.name}`, value: c.p50Ms, unit: 'ms' });
      rows.push({ suite: 'conduit', measure: `Modbus poll round trip p99, ${c.name}`, value: c.p99Ms, unit: 'ms' });
      rows.push({
        suite: 'conduit',
        measure: `123-register writes, 16 in flight, ${c.name}`,
        value: c.opsPerSec,
        unit: 'ops/s',
      });
      rows.push({ suite: 'conduit', measure: `relay payload, same, ${c.name}`, value: c.mbPerSec, unit: 'MB/s' });
    }
  }

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    openssh: openSshVersion(),
    gatehouse: version,
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    ...(only ? { only } : {}),
    durationSeconds: Math.round((Date.now() - t0) / 1000),
  };
  const dir = join(packageRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const previous = await readFile(join(dir, 'latest.json'), 'utf8')
    .then((t) => JSON.parse(t) as { machine?: { date?: string; mode?: string }; paths?: PathRow[] })
    .catch(() => undefined);

  const md = [
    `# Gatehouse benchmarks (${machine.mode}${only ? `, only ${only.join(',')}` : ''})`,
    '',
    `${machine.date} · ${machine.cpu} × ${machine.cores} · ${machine.memoryGiB} GiB · Node ${machine.node} · ${machine.openssh} · Gatehouse ${machine.gatehouse} · ${machine.durationSeconds} s`,
    '',
  ];
  md.push(...targetTable(ssh?.rows ?? [], rows));
  if (ssh) {
    const routes = Object.entries(ssh.routes)
      .map(([p, hop]) => `${p} → ${hop}`)
      .join(', ');
    const ciphers = Object.entries(ssh.ciphers)
      .map(([p, c]) => `${p}: ${c.join(' then ') || '?'}`)
      .join('; ');
    md.push(
      '## Side by side with OpenSSH',
      '',
      'One run, same machine, loopback. **direct**: `ssh` → target sshd. **ProxyJump**: `ssh -J` through a second private sshd. ' +
        '**Gatehouse**: `ssh` → gateway (separate process; recording and command capture on) → target sshd. ' +
        'Bulk rates are timed from the first byte to the last (setup is its own row); data is terminal text (ANSI colours, UTF-8, CRLF).',
      '',
      `Routes checked (who holds the target's peer socket): ${routes || 'not checked'}. Client-hop ciphers: ${ciphers || 'not read'}; gateway → target: ssh2's own preference.`,
      '',
      ...pathTable(ssh.rows),
      '',
    );
    if (ssh.failures.length > 0) md.push('Failures:', '', ...ssh.failures.map((f) => `- ${f}`), '');
  }
  if (rows.length > 0)
    md.push(
      '## Audit log, recorder and state store',
      '',
      '| suite | measure | value | unit | target | met |',
      '| --- | --- | ---: | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.suite} | ${r.measure} | ${fmt(r.value, r.unit)} | ${r.unit} | ${r.target ?? ''} | ${met(r.met)} |`,
      ),
      '',
    );
  if (ssh && previous?.paths?.length) {
    const prev = new Map(previous.paths.map((r) => [r.measure, r]));
    const both = ssh.rows.filter((r) => prev.get(r.measure)?.gatehouse !== undefined && r.gatehouse !== undefined);
    if (both.length > 0)
      md.push(
        `## Gatehouse against the previous result (${previous.machine?.date ?? '?'}, ${previous.machine?.mode ?? '?'}; bench/results/previous.md)`,
        '',
        '| measure | previous | now | unit |',
        '| --- | ---: | ---: | --- |',
        ...both.map(
          (r) =>
            `| ${r.measure} | ${fmt(prev.get(r.measure)!.gatehouse, r.unit)} | ${fmt(r.gatehouse, r.unit)} | ${r.unit} |`,
        ),
        '',
      );
  }
  const text = md.join('\n');
  // A partial run (--only) is for development: it prints, and leaves the recorded results alone.
  if (!only) {
    for (const ext of ['md', 'json'])
      await copyFile(join(dir, `latest.${ext}`), join(dir, `previous.${ext}`)).catch(() => undefined);
    await writeFile(join(dir, 'latest.md'), text);
    await writeFile(
      join(dir, 'latest.json'),
      `${JSON.stringify({ machine, paths: ssh?.rows ?? [], routes: ssh?.routes, ciphers: ssh?.ciphers, failures: ssh?.failures ?? [], rows }, null, 2)}\n`,
    );
  }
  process.stdout.write(text);
  if (profileDir) {
    const on = join(profileDir, 'gatehouse.cpuprofile');
    const off = join(profileDir, 'gatehouse-norec.cpuprofile');
    const have = async (p: string) =>
      (await readFile(p)
        .then(() => true)
        .catch(() => false))
        ? p
        : undefined;
    const [onPath, offPath] = [await have(on), await have(off)];
    if (onPath) {
      const title = `Gateway CPU profile (${machine.mode} bench run${only ? `, only ${only.join(',')}` : ''}, ${machine.date})`;
      const out = offPath
        ? await profileComparison(onPath, offPath, title)
        : await profileMarkdown(onPath, `${title}, recording on`);
      await writeFile(join(dir, 'profile.md'), out);
      progress(`gateway CPU profile summary → bench/results/profile.md (raw: ${profileDir})`);
    } else progress('no CPU profile was written');
  }
  if (ssh && ssh.failures.length > 0) process.exitCode = 1;
}

await main();
