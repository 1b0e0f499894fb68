// `npm run bench`: runs the benchmark suites and writes bench/results/latest.{md,json}, keeping the
// previous result beside it for comparison. `--quick` runs CI-sized inputs.
// The OpenSSH side-by-side paths (direct, ProxyJump, Gatehouse) join this runner with the SSH relay.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../gateway/paths.js';
import { version } from '../gateway/version.js';
import { benchAudit } from './audit.js';
import { benchRecorder } from './recorder.js';

interface Row {
  suite: string;
  measure: string;
  value: number;
  unit: string;
  target?: string;
}

const quick = process.argv.includes('--quick');
const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

async function main(): Promise<void> {
  const rows: Row[] = [];
  progress(`audit log (${quick ? 5_000 : 20_000} events, 32 writers)…`);
  const auditDir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-audit-'));
  const audit = await benchAudit({ dir: auditDir, events: quick ? 5_000 : 20_000, writers: 32 }).finally(() =>
    rm(auditDir, { recursive: true, force: true }),
  );
  rows.push(
    { suite: 'audit', measure: 'append, 32 writers, fsync', value: audit.appendPerSec, unit: 'events/s', target: '>= 5,000' },
    { suite: 'audit', measure: 'fsyncs per event', value: audit.fsyncsPerEvent, unit: '', target: '< 1 (group commit)' },
    { suite: 'audit', measure: 'verify, cold (one CLI run)', value: audit.verifyPerSec, unit: 'events/s' },
    { suite: 'audit', measure: 'verify, warm', value: audit.verifyWarmPerSec, unit: 'events/s', target: '>= 200,000' },
  );
  progress(`recorder (${quick ? 16 : 128} MiB per case)…`);
  for (const c of await benchRecorder({ megabytes: quick ? 16 : 128 })) {
    rows.push({ suite: 'recorder', measure: `${c.name}, end to end`, value: c.mbPerSec, unit: 'MB/s' });
    rows.push({ suite: 'recorder', measure: `${c.name}, hot path`, value: c.hotPathMBPerSec, unit: 'MB/s' });
  }

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    gatehouse: version,
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
  };
  const fmt = (v: number) => (v >= 10 ? Math.round(v).toLocaleString('en-US') : v.toFixed(3));
  const md = [
    `# Gatehouse benchmarks (${machine.mode})`,
    '',
    `${machine.date} · ${machine.cpu} × ${machine.cores} · ${machine.memoryGiB} GiB · Node ${machine.node} · Gatehouse ${machine.gatehouse}`,
    '',
    '| suite | measure | value | unit | target |',
    '| --- | --- | ---: | --- | --- |',
    ...rows.map((r) => `| ${r.suite} | ${r.measure} | ${fmt(r.value)} | ${r.unit} | ${r.target ?? ''} |`),
    '',
  ].join('\n');
  const dir = join(packageRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  for (const ext of ['md', 'json'])
    await copyFile(join(dir, `latest.${ext}`), join(dir, `previous.${ext}`)).catch(() => undefined);
  await writeFile(join(dir, 'latest.md'), md);
  await writeFile(join(dir, 'latest.json'), `${JSON.stringify({ machine, rows }, null, 2)}\n`);
  process.stdout.write(md);
}

await main();
