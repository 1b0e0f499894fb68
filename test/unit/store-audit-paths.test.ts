// Every store.update in the gateway records its change through the audit sink it is handed, or is listed here with why
// the change needs no record: no state change lands without its audit record by an oversight.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `file: count` of update fns that take no sink, each with the reason. A new one fails until it is argued here. */
const WITHOUT_RECORD: Record<string, { count: number; why: string }> = {
  'gateway/sessions/journal.ts': {
    count: 1,
    why: "where the recording is written: part of session.started's session, sealed on record at the end",
  },
  'gateway/auth/web-session.ts': {
    count: 1,
    why: 'lastSeenAt of a web session (idle timeout): bookkeeping, not an action',
  },
  'gateway/command-log.ts': {
    count: 1,
    why: 'schema migration v1→v2: commands moved to commands.jsonl, already on record',
  },
  'gateway/demo/run.ts': { count: 1, why: "the demo's seeded people (gatehouse demo only)" },
  'gateway/storage/monitor.ts': {
    count: 1,
    why: 'a write that changes nothing: the probe that tells whether db.json can be written again',
  },
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Each `<…store>.update(fn)` call: the file, the line and how many parameters its fn declares. */
function updateCalls(): Array<{ file: string; line: number; params: number }> {
  const out: Array<{ file: string; line: number; params: number }> = [];
  for (const path of tsFiles(join(root, 'gateway'))) {
    const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node) => {
      if (
        ts.isCallExpression(n) &&
        ts.isPropertyAccessExpression(n.expression) &&
        n.expression.name.text === 'update' &&
        /(^|\.)store$/.test(n.expression.expression.getText(sf).replace(/\s/g, ''))
      ) {
        const fn = n.arguments[0];
        const params = fn && (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) ? fn.parameters.length : -1;
        out.push({
          file: relative(root, path),
          line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1,
          params,
        });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

describe('one path for every change and its record', () => {
  const calls = updateCalls();

  it('finds the mutations (requests, sessions, keys, TOTP, web sessions, users)', () => {
    const files = new Set(calls.map((c) => c.file));
    for (const f of [
      'gateway/broker.ts',
      'gateway/broker/transact.ts',
      'gateway/sessions/journal.ts',
      'gateway/http/routes/keys.ts',
      'gateway/auth/totp.ts',
      'gateway/auth/step-up.ts',
      'gateway/auth/web-session.ts',
      'gateway/cli/users.ts',
    ])
      expect(files).toContain(f);
  });

  it('every update fn is written inline (so this check can read it)', () => {
    expect(calls.filter((c) => c.params < 0)).toEqual([]);
  });

  it('every update fn takes the audit sink, except the ones argued above', () => {
    const without: Record<string, number> = {};
    for (const c of calls) if (c.params < 2) without[c.file] = (without[c.file] ?? 0) + 1;
    expect(without).toEqual(Object.fromEntries(Object.entries(WITHOUT_RECORD).map(([f, w]) => [f, w.count])));
  });

  it('the sink-taking fns record something: no sink parameter left unused', () => {
    const unused: string[] = [];
    for (const c of calls.filter((x) => x.params >= 2)) {
      const text = readFileSync(join(root, c.file), 'utf8')
        .split('\n')
        .slice(c.line - 1, c.line + 40)
        .join('\n');
      const name = /update\(\s*(?:async\s*)?\(\s*\w+\s*,\s*(\w+)/.exec(text)?.[1];
      if (
        !name ||
        !new RegExp(
          `\\b${name}\\b[^,]*?\\.record\\(|recordEvents\\(\\s*${name}\\b|recordAttempt\\(\\s*${name}\\b`,
        ).test(text)
      )
        unused.push(`${c.file}:${c.line}`);
    }
    expect(unused).toEqual([]);
  });
});
