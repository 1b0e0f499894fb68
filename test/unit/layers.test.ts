// The layers of gateway/ as a test: protocol adapters don't import each other, recording/ stays protocol-free,
// only the broker writes requests, only admission/ writes session.refused, only the session journal writes a
// session's start and end, a folder's insides are imported from outside only through its front file, the adapters
// don't import deps.ts (they declare their ports), and there are no import cycles.
// core/'s own purity is core-imports.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const gatewayDir = join(root, 'gateway');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `gateway/x/y.ts` → `x/y.ts`. */
const rel = (file: string) => relative(gatewayDir, file).split('\\').join('/');

/** The gateway files each file imports (relative specifiers only; `.js` maps to the `.ts` source). */
export function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files.map(rel));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps = ts
      .preProcessFile(readFileSync(file, 'utf8'), true, true)
      .importedFiles.map((f) => f.fileName)
      .filter((s) => s.startsWith('.'))
      .map((s) => rel(resolve(dirname(file), s.replace(/\.js$/, '.ts'))))
      .filter((d) => known.has(d));
    graph.set(rel(file), deps);
  }
  return graph;
}

/** Every cycle's files, each reported once, starting from its first file in sorted order. */
export function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const canonical = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(canonical.join(' → '), canonical);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return [...cycles.values()];
}

/** Folders that must not import each other's insides: `from` may not import anything under `to`. */
const FORBIDDEN: ReadonlyArray<{ from: string; to: string; why: string }> = [
  { from: 'ssh/', to: 'rdp/', why: 'protocol adapters meet only in shared, protocol-free modules' },
  { from: 'rdp/', to: 'ssh/', why: 'protocol adapters meet only in shared, protocol-free modules' },
  { from: 'recording/', to: 'ssh/', why: 'recording is protocol-free: both adapters use it' },
  { from: 'recording/', to: 'rdp/', why: 'recording is protocol-free: both adapters use it' },
  { from: 'recording/', to: 'web-terminal/', why: 'recording is protocol-free: both adapters use it' },
];

function boundaryProblems(graph: ReadonlyMap<string, readonly string[]>): string[] {
  return [...graph].flatMap(([file, deps]) =>
    FORBIDDEN.filter((r) => file.startsWith(r.from)).flatMap((r) =>
      deps.filter((d) => d.startsWith(r.to)).map((d) => `${file} imports ${d}: ${r.why}`),
    ),
  );
}

/**
 * Folders whose insides anyone may import: core/ is a library of small pure modules (no I/O, no imports
 * outside itself, see core-imports.test.ts) that every layer shares, so each import naming the one module it
 * needs says more than a front would; guac/ is one file, which a front would only repeat.
 */
const NO_FRONT = new Set(['core', 'guac']);

/** Folders not yet behind a front (none now; a folder added here needs a reason beside it). */
const NOT_YET = new Set<string>();

/** A folder's front file: `<folder>.ts` beside it where the folder holds that module's parts (`broker.ts`), else `<folder>/<folder>.ts`. */
export function frontOf(folder: string, known: ReadonlySet<string>): string {
  return known.has(`${folder}.ts`) ? `${folder}.ts` : `${folder}/${folder}.ts`;
}

/**
 * A file outside a folder imports only the folder's front file; the folder's own files import each other
 * directly, never through their front (that would make every file depend on all its siblings, and cycles).
 * Tests are not judged: they test the insides.
 */
export function frontProblems(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const known = new Set(graph.keys());
  const folderOf = (f: string) => (f.includes('/') ? f.slice(0, f.indexOf('/')) : null);
  return [...graph].flatMap(([file, deps]) =>
    deps.flatMap((d) => {
      const folder = folderOf(d);
      if (folder === null || NO_FRONT.has(folder) || NOT_YET.has(folder)) return [];
      const front = frontOf(folder, known);
      if (folderOf(file) === folder)
        return d === front && front !== `${folder}.ts` ? [`${file} imports its own folder's front ${d}`] : [];
      return d === front || file === front ? [] : [`${file} imports ${d}, inside ${folder}/: import ${front}`];
    }),
  );
}

/** Writes to the requests collection: an assignment into it, or a mutating array call on it (a class's own `this.requests` is not the store's). */
const REQUEST_WRITE =
  /(?<!\bthis)\.requests(\[[^\]]*\])?\s*(=[^=]|\.(push|splice|unshift|pop|shift|sort|reverse|fill)\()/;

function requestWriters(files: readonly string[]): string[] {
  return files
    .filter((f) => REQUEST_WRITE.test(readFileSync(f, 'utf8')))
    .map(rel)
    .filter((f) => f !== 'broker.ts' && !f.startsWith('broker/') && !f.startsWith('store/'));
}

/** Files that write `session.refused`: only admission/connect.ts may (core/audit.ts and core/audit-events.ts name it, evidence/ counts it). */
const REFUSED_WRITE = "'session.refused'";
/** The event catalog and the event shapes: they name every event without writing any. */
const CATALOG = ['core/audit.ts', 'core/audit-events.ts'];

function refusedWriters(files: readonly string[]): string[] {
  return files
    .filter((f) => readFileSync(f, 'utf8').includes(REFUSED_WRITE))
    .map(rel)
    .filter((f) => !f.startsWith('admission/') && !CATALOG.includes(f) && !f.startsWith('evidence/'));
}

/** Writes to the sessions collection, as REQUEST_WRITE does for requests. */
const SESSION_WRITE =
  /(?<!\bthis)\.sessions(\[[^\]]*\])?\s*(=[^=]|\.(push|splice|unshift|pop|shift|sort|reverse|fill)\()/;
/** A session's start and end in the audit trail: only sessions/journal.ts writes them. */
const JOURNAL_EVENTS = ["'session.started'", "'session.ended'", "'recording.sealed'", "'recording.failed'"];
const JOURNAL = 'sessions/journal.ts';
/** Files that name those events without writing them: the catalog, the evidence readers, the browser event stream's own `session.ended` message. */
const JOURNAL_EVENT_READERS = (f: string) => CATALOG.includes(f) || f.startsWith('evidence/') || f === 'http/events.ts';

/**
 * Adapters handed narrow ports (only the services they use) rather than the whole of Deps: no file under these
 * folders (a name ending in `/`) or of these names may import deps.ts.
 */
const NARROW_PORTS = [
  'ssh/',
  'rdp/',
  'web-terminal/',
  'sessions/',
  'http/',
  'auth/',
  'admission/',
  'conduit/',
  'evidence/',
  'cli/',
  'notify.ts',
];
/** Files under NARROW_PORTS still handed the whole of Deps, each with why (none now). */
const STILL_DEPS: Readonly<Record<string, string>> = {};

const underNarrowPorts = (f: string) =>
  NARROW_PORTS.some((p) => (p.endsWith('/') ? f.startsWith(p) : f === p)) && !(f in STILL_DEPS);

function depsImporters(graph: ReadonlyMap<string, readonly string[]>, files: readonly string[]): string[] {
  return files.filter((f) => graph.get(f)?.includes('deps.ts')).map((f) => `${f} imports deps.ts`);
}

function journalBypasses(files: readonly string[]): string[] {
  return files.flatMap((f) => {
    const text = readFileSync(f, 'utf8');
    const file = rel(f);
    if (file === JOURNAL || file.startsWith('store/')) return [];
    const problems: string[] = [];
    if (SESSION_WRITE.test(text)) problems.push(`${file} writes session records`);
    if (!JOURNAL_EVENT_READERS(file))
      for (const e of JOURNAL_EVENTS) if (text.includes(e)) problems.push(`${file} names ${e}`);
    return problems;
  });
}

describe('the layers of gateway/', () => {
  const files = tsFiles(gatewayDir);
  const graph = importGraph(files);

  it('reads the import graph it judges', () => {
    expect(graph.get('app.ts')).toEqual(expect.arrayContaining(['broker.ts', 'config.ts']));
    expect(graph.get('ssh/session.ts')).toEqual(expect.arrayContaining(['ssh/channel-relay.ts']));
    // The detector itself, on small graphs: one cycle found once, a DAG has none.
    const ring = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
    ]);
    expect(cyclesOf(ring)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(
      cyclesOf(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', []],
        ]),
      ),
    ).toEqual([]);
    expect(boundaryProblems(new Map([['ssh/x.ts', ['rdp/y.ts', 'core/z.ts']]]))).toEqual([
      'ssh/x.ts imports rdp/y.ts: protocol adapters meet only in shared, protocol-free modules',
    ]);
    expect(
      frontProblems(
        new Map([
          ['x/a.ts', ['y/y.ts', 'y/b.ts', 'x/x.ts', 'core/c.ts', 'z/c.ts', 'z.ts']],
          ['x/x.ts', ['x/a.ts']],
          ['y/y.ts', ['y/b.ts']],
          ['y/b.ts', []],
          ['z.ts', ['z/c.ts']],
          ['z/c.ts', []],
        ]),
      ),
    ).toEqual([
      'x/a.ts imports y/b.ts, inside y/: import y/y.ts',
      "x/a.ts imports its own folder's front x/x.ts",
      'x/a.ts imports z/c.ts, inside z/: import z.ts',
    ]);
    expect(REQUEST_WRITE.test('d.requests[i] = t.next;')).toBe(true);
    expect(REQUEST_WRITE.test('draft.requests.push(r);')).toBe(true);
    expect(REQUEST_WRITE.test('store.data.requests.filter((r) => r.id === id)')).toBe(false);
    expect(REQUEST_WRITE.test('if (d.requests[i] === x)')).toBe(false);
    expect(REQUEST_WRITE.test('const split = this.requests.push(chunk);')).toBe(false);
    expect(SESSION_WRITE.test('d.sessions.push(record);')).toBe(true);
    expect(SESSION_WRITE.test('draft.sessions = draft.sessions.filter(keep);')).toBe(true);
    expect(SESSION_WRITE.test('const s = d.sessions.find((x) => x.id === id);')).toBe(false);
  });

  it('has no import cycles', () => {
    expect(cyclesOf(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('keeps protocol adapters apart and recording protocol-free', () => {
    expect(boundaryProblems(graph)).toEqual([]);
  });

  it('lets other folders import a folder only through its front file', () => {
    expect(frontProblems(graph)).toEqual([]);
  });

  it('lets only the broker write requests', () => {
    expect(requestWriters(files)).toEqual([]);
  });

  it('lets only admission/ write session.refused', () => {
    // The search itself: it finds the writer it allows, so an empty answer below is not a blind one.
    expect(files.map(rel).filter((f) => readFileSync(join(gatewayDir, f), 'utf8').includes(REFUSED_WRITE))).toContain(
      'admission/connect.ts',
    );
    expect(refusedWriters(files)).toEqual([]);
  });

  it('lets only the session journal write a session start and end', () => {
    // The search itself: it finds the writer it allows, so an empty answer below is not a blind one.
    const journal = readFileSync(join(gatewayDir, JOURNAL), 'utf8');
    expect(SESSION_WRITE.test(journal)).toBe(true);
    for (const e of JOURNAL_EVENTS) expect(journal).toContain(e);
    expect(journalBypasses(files)).toEqual([]);
  });

  it('hands the adapters narrow ports, not the whole of Deps', () => {
    // The search itself: a file that does import deps.ts is found, so an empty answer below is not a blind one.
    expect(depsImporters(graph, ['app.ts'])).toEqual(['app.ts imports deps.ts']);
    // An import added back to a converted file is found; app.ts and the listed exceptions are not judged.
    const readded = new Map([
      ['http/routes/keys.ts', ['deps.ts']],
      ['cli/serve.ts', ['deps.ts']],
      ['app.ts', ['deps.ts']],
      ['http/routes/sessions.ts', ['deps.ts']],
    ]);
    expect(depsImporters(readded, [...readded.keys()].filter(underNarrowPorts))).toEqual([
      'http/routes/keys.ts imports deps.ts',
      'cli/serve.ts imports deps.ts',
      'http/routes/sessions.ts imports deps.ts',
    ]);
    // Each exception names a file that exists and still needs it: the list cannot outlive its reason.
    for (const f of Object.keys(STILL_DEPS)) expect(depsImporters(graph, [f])).toEqual([`${f} imports deps.ts`]);
    for (const p of NARROW_PORTS)
      expect([...graph.keys()].some((f) => (p.endsWith('/') ? f.startsWith(p) : f === p))).toBe(true);
    expect(depsImporters(graph, [...graph.keys()].filter(underNarrowPorts))).toEqual([]);
  });
});
