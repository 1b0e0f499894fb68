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
  return { ok: false as const, problems: issuesToProblems(r.error.issues) };
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
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 0, col: 0 };
        const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { path: `${sourceName}:${pos.line}:${pos.col}`, message, line: pos.line };
      }),
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
