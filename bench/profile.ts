// Where the gateway's CPU time went: self time per function and per source file from a V8 .cpuprofile.
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time, in %. */
  share: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: ProfileLine[];
  files: ProfileLine[];
  /** For the top native functions (no source: syscalls, hashing…): the JS frame that called them. */
  nativeCallers: ProfileLine[];
}

/** node_modules/ssh2/lib/protocol/Protocol.js → ssh2/lib/protocol/Protocol.js; dist/gateway/x.js → gateway/x.js. */
function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(p: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const fn = new Map<string, number>();
  const callers = new Map<string, number>();
  const file = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!);
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += ms;
      continue;
    }
    busy += ms;
    const where = shortUrl(url);
    const key = url ? `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}` : functionName;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    file.set(where, (file.get(where) ?? 0) + ms);
    const up = parent.get(node.id)?.callFrame;
    if (!url && up?.url && !functionName.startsWith('(')) {
      const via = `${functionName} ← ${up.functionName || '(anonymous)'} ${shortUrl(up.url)}:${up.lineNumber + 1}`;
      callers.set(via, (callers.get(via) ?? 0) + ms);
    }
  }
  const lines = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, share: busy > 0 ? (ms / busy) * 100 : 0 }));
  return {
    busyMs: busy,
    idleMs: idle,
    functions: lines(fn),
    files: lines(file),
    nativeCallers: lines(callers).slice(0, 8),
  };
}

const load = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as CpuProfile;

export async function profileMarkdown(path: string, title: string): Promise<string> {
  const s = summarizeProfile(await load(path));
  const table = (rows: ProfileLine[], what: string) => [
    `| ${what} | self ms | % of busy |`,
    '| --- | ---: | ---: |',
    ...rows.map((r) => `| \`${r.name.replace(/\|/g, '\\|')}\` | ${Math.round(r.ms)} | ${r.share.toFixed(1)} |`),
  ];
  return [
    `# ${title}`,
    '',
    `Busy ${Math.round(s.busyMs)} ms, idle ${Math.round(s.idleMs)} ms (self time; V8 sampling profile of the gateway process).`,
    '',
    '## By source file',
    '',
    ...table(s.files, 'file'),
    '',
    '## By function',
    '',
    ...table(s.functions, 'function'),
    '',
    '## Native functions by caller',
    '',
    ...table(s.nativeCallers, 'native ← caller'),
    '',
  ].join('\n');
}

/**
 * The recording gateway's profile beside the recording-off one's (same bench run, same profiler overhead): busy
 * time and the top functions of each, then each profile in full.
 */
export async function profileComparison(onPath: string, offPath: string, title: string): Promise<string> {
  const on = summarizeProfile(await load(onPath), 40);
  const off = summarizeProfile(await load(offPath), 40);
  const offBy = new Map(off.functions.map((f) => [f.name, f.ms]));
  const onBy = new Map(on.functions.map((f) => [f.name, f.ms]));
  const names = [...new Set([...on.functions.slice(0, 25), ...off.functions.slice(0, 15)].map((f) => f.name))];
  const cell = (m: Map<string, number>, n: string) => (m.has(n) ? String(Math.round(m.get(n)!)) : '—');
  return [
    `# ${title}`,
    '',
    'Two gateways in one run, each with its own V8 sampling profiler from ready to stop: **on** records (asciicast,',
    'SHA-256, command capture), **off** relays the same bytes with the o/i streams dropped. Self time in ms; what each',
    'moved is in the run (`--only` phases: on moves the bulk phases asked for; off the recording-off bulk phases).',
    '',
    `Busy: on ${Math.round(on.busyMs)} ms, off ${Math.round(off.busyMs)} ms (idle: on ${Math.round(on.idleMs)}, off ${Math.round(off.idleMs)}).`,
    '',
    '| function | on, self ms | off, self ms |',
    '| --- | ---: | ---: |',
    ...names.map((n) => `| \`${n.replace(/\|/g, '\\|')}\` | ${cell(onBy, n)} | ${cell(offBy, n)} |`),
    '',
    (await profileMarkdown(onPath, 'Recording on')).replace(/^# /, '## ').replace(/\n## /g, '\n### '),
    (await profileMarkdown(offPath, 'Recording off')).replace(/^# /, '## ').replace(/\n## /g, '\n### '),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const path = process.argv[2];
  if (!path) throw new Error('usage: node dist/bench/profile.js FILE.cpuprofile');
  // A .cpuprofile from node --cpu-prof or from bench/gatehouse-child.ts (npm run bench -- --profile).
  process.stdout.write(await profileMarkdown(path, `CPU profile ${path}`));
}
