// Turns YAML text or a plain object into a Config, or into every problem at once, each with its key path.
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { GatehouseError } from '../errors.js';
import { type Config, configSchema } from './schema.js';

export interface ConfigProblem {
  /** Key path like `targets[1].ssh.hostKeySha256`, `(root)` for the whole document. */
  path: string;
  message: string;
  /** 1-based line in the YAML source, when the problem came from text. */
  line?: number;
}

export type ParseResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

/** Thrown by loadConfig: carries every problem found, not just the first. */
export class ConfigError extends GatehouseError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[], source = 'config') {
    super('invalid_input', 'config_invalid', `invalid configuration ${source}:\n${formatProblems(problems)}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Segment = PropertyKey;

export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (typeof s === 'string' && /^[A-Za-z_$][\w$-]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out || '(root)';
}

/** One `path: message (line N)` per line; a syntax error's `file:line:col` path already names its line. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  const suffix = (p: ConfigProblem) => (p.line && !p.path.includes(`:${p.line}:`) ? ` (line ${p.line})` : '');
  return problems.map((p) => `${p.path}: ${p.message}${suffix(p)}`).join('\n');
}

/** Per-parse messages: zod's defaults are fine except for a missing key, which reads best as "required". */
const errorMap = (iss: { code: string; input?: unknown }) =>
  iss.code === 'invalid_type' && iss.input === undefined ? 'required' : undefined;

function issuesToProblems(issues: readonly z.core.$ZodIssue[]): { segments: Segment[]; message: string }[] {
  const out: { segments: Segment[]; message: string }[] = [];
  for (const iss of issues) {
    const segments = iss.path.map((s) => s as Segment);
    // One problem per unknown key, at the key's own path: `http.tsl: unknown key`.
    if (iss.code === 'unrecognized_keys')
      for (const key of iss.keys) out.push({ segments: [...segments, key], message: 'unknown key' });
    else out.push({ segments, message: iss.message });
  }
  return out;
}

function validate(input: unknown) {
  const r = configSchema.safeParse(input, { error: errorMap });
  if (r.success) return { ok: true as const, config: r.data };
  return { ok: false as const, problems: suggestKeys(issuesToProblems(r.error.issues)) };
}

/** A misspelt key names the known key it is closest to; that key's own "required" is then said once, by it. */
function suggestKeys(problems: { segments: Segment[]; message: string }[]) {
  const dropped = new Set<string>();
  for (const p of problems) {
    if (p.message !== 'unknown key') continue;
    const typed = String(p.segments.at(-1));
    const near = closest(typed, knownKeys(p.segments.slice(0, -1)));
    if (!near) continue;
    p.message = `unknown key; did you mean "${near}"?`;
    dropped.add(formatPath([...p.segments.slice(0, -1), near]));
  }
  return problems.filter((p) => !(p.message === 'required' && dropped.has(formatPath(p.segments))));
}

type Def = {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  element?: { _zod: { def: Def } };
  innerType?: { _zod: { def: Def } };
  in?: { _zod: { def: Def } };
  options?: Array<{ _zod: { def: Def } }>;
};

/** The keys the schema allows at a path (objects inside arrays, defaults, pipes and unions followed). */
function knownKeys(path: readonly Segment[]): string[] {
  let defs: Def[] = [(configSchema as unknown as { _zod: { def: Def } })._zod.def];
  const unwrap = (d: Def): Def[] =>
    d.innerType
      ? unwrap(d.innerType._zod.def)
      : d.in
        ? unwrap(d.in._zod.def)
        : d.options
          ? d.options.flatMap((o) => unwrap(o._zod.def))
          : [d];
  for (const seg of path) {
    defs = defs.flatMap(unwrap).flatMap((d) => {
      if (typeof seg === 'number') return d.element ? [d.element._zod.def] : [];
      const next = d.shape?.[String(seg)];
      return next ? [next._zod.def] : [];
    });
  }
  return [...new Set(defs.flatMap(unwrap).flatMap((d) => Object.keys(d.shape ?? {})))];
}

/** The candidate within a third of the typed length in edits (at least 1, at most 3), or none. */
function closest(typed: string, candidates: readonly string[]): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(typed.length / 3)));
  let best: { key: string; d: number } | undefined;
  for (const key of candidates) {
    const d = editDistance(typed.toLowerCase(), key.toLowerCase());
    if (d <= limit && (!best || d < best.d)) best = { key, d };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Validates an already-parsed object (e.g. from tests or JSON). Paths stay as written. */
export function parseConfig(input: unknown): ParseResult {
  const r = validate(input);
  if (r.ok) return r;
  return {
    ok: false,
    problems: r.problems.map((p) => ({ path: formatPath(p.segments), message: p.message })),
  };
}

/** Parses YAML text; syntax errors are reported as `source:line:col`, schema problems with their line. */
export function parseConfigText(yamlText: string, sourceName = 'config'): ParseResult {
  const lineCounter = new LineCounter();
  // uniqueKeys: a key given twice is an error, not a silent "last one wins".
  const doc = parseDocument(yamlText, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    // One problem: the first error is where the text went wrong; the parser's later ones are mostly its echoes.
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0] ?? { line: 0, col: 0 };
    const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return {
      ok: false,
      problems: [
        { path: `${sourceName}:${pos.line}:${pos.col}`, message: `YAML syntax error: ${message}`, line: pos.line },
      ],
    };
  }
  let input: unknown;
  try {
    // The alias limit stops a "billion laughs" document from expanding without bound.
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return {
      ok: false,
      problems: [{ path: sourceName, message: err instanceof Error ? err.message : String(err) }],
    };
  }
  const r = validate(input);
  if (r.ok) return r;
  return {
    ok: false,
    problems: r.problems.map((p) => ({
      path: formatPath(p.segments),
      message: p.message,
      line: lineOf(doc, lineCounter, p.segments),
    })),
  };
}

/** The line of the deepest YAML key or item that exists along `segments`; none for a key missing at the top. */
function lineOf(doc: Document, lc: LineCounter, segments: readonly Segment[]): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      if (isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (isScalar(node) || isMap(node) || isSeq(node)) offset = node.range?.[0] ?? offset;
      else break;
    } else break;
  }
  return offset === undefined ? undefined : lc.linePos(offset).line;
}
